/**
 * TLS peers that are not what they should be (issue 11): impostor servers, one side in plain text,
 * certificates that do not match; and a connection made with another TLS library (openssl s_client).
 */
import { execFile, spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer as createNetServer, type Server } from 'node:net';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit-codes.js';
import { encodeFrame } from '../src/protocol/frame.js';
import { deriveTokenKeys } from '../src/protocol/token-keys.js';
import { runFtx, spawnServe, type ServeProcess } from './helpers/cli.js';
import { listTree, makeTempDir } from './helpers/server.js';

const TOKEN = 'ftx1_Xq3vU8kz0Lr5N2bYw7HcTj1pQe6sMa9fGd4hVn0iKoE';
const OTHER_TOKEN = 'ftx1_b9T2mWq7Zr4Kx1Vn8Lc5Hy3Pd6Sg0Fj2Ae7Ru4Io9Mk';
const run = promisify(execFile);

let tmp: { dir: string; cleanup: () => Promise<void> };
let file: string;
const stop: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  tmp = await makeTempDir('ftx-tls-peers-');
  file = join(tmp.dir, 'secret-plans.txt');
  await writeFile(file, 'the secret plans\n'.repeat(1000));
});

afterAll(async () => {
  for (const fn of stop.reverse()) await fn();
  await tmp?.cleanup();
});

async function served(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ serve: ServeProcess; root: string }> {
  const root = join(tmp.dir, `root-${stop.length}`);
  await mkdir(root);
  const serve = await spawnServe([root, '--port', '0', '--host', '127.0.0.1', ...args], env);
  stop.push(() => serve.stop());
  return { serve, root };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  stop.push(() => new Promise((resolve) => server.close(resolve)));
  return (server.address() as { port: number }).port;
}

/** The one `ftx: error:` line of a run, asserting there is exactly one. */
function errorLine(stderr: string): string {
  const lines = stderr.split('\n').filter((line) => line.startsWith('ftx: error:'));
  expect(lines, stderr).toHaveLength(1);
  return lines[0]!;
}

/** A key and a self-signed certificate for 127.0.0.1 (openssl), in `dir`. */
async function makeCertificate(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert,
    '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1']);
  return { cert, key };
}

describe('impostor servers are refused before a name or a byte is sent', () => {
  it('a TLS server with another token: authentication failed, exit 4', async () => {
    const { serve } = await served(['--token', OTHER_TOKEN]);
    const result = await runFtx(['put', file, `127.0.0.1:${serve.port}`, '--token', TOKEN]);
    expect(result.code).toBe(EXIT.AUTH);
    expect(errorLine(result.stderr)).toMatch(/authentication failed: 127\.0\.0\.1:\d+ does not accept this token/);
  });

  it('a TLS server with a certificate the client trusts, but without the token: refused, it receives no data', async () => {
    const { cert, key } = await makeCertificate(tmp.dir, 'impostor');
    let received = 0;
    const impostor = createTlsServer({ cert: await readFile(cert), key: await readFile(key) }, (socket) => {
      socket.on('data', (data: Buffer) => (received += data.length));
      socket.on('error', () => undefined);
      socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'impostor', auth: 'none', nonce: '0'.repeat(64), actions: ['put'], features: [], maxFrame: 65536 }));
    });
    const port = await listen(impostor);
    // NODE_EXTRA_CA_CERTS: the client's TLS library trusts the impostor's certificate like a public CA's.
    const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--token', TOKEN], { NODE_EXTRA_CA_CERTS: cert });
    expect(result.code).toBe(EXIT.AUTH);
    expect(errorLine(result.stderr)).toMatch(/did not prove it knows the token \(it presented a certificate/);
    expect(received).toBe(0);
  });

  it('a plain-text server that accepts anyone: refused as plain text (exit 8); it gets nothing but the TLS ClientHello', async () => {
    const seen: Buffer[] = [];
    const impostor = createNetServer((socket) => {
      socket.on('data', (data: Buffer) => seen.push(data));
      socket.on('error', () => undefined);
      socket.write(encodeFrame({ type: 'hello', protocol: 1, server: 'impostor', auth: 'none', nonce: '0'.repeat(64), actions: ['put'], features: [], maxFrame: 65536 }));
    });
    const port = await listen(impostor);
    const result = await runFtx(['put', file, `127.0.0.1:${port}`, '--token', TOKEN]);
    expect(result.code).toBe(EXIT.PROTOCOL);
    expect(errorLine(result.stderr)).toMatch(/speaks plain text, not TLS.*an ftx server without TLS/);
    const all = Buffer.concat(seen);
    expect(all.includes('secret-plans')).toBe(false);
    expect(all.includes('the secret plans')).toBe(false);
  });
});

describe('plain text on one side only: one line saying which side speaks what', () => {
  it('a plain client at a TLS server: exit 4, the server speaks TLS', async () => {
    const { serve, root } = await served(['--token', TOKEN]);
    const result = await runFtx(['put', file, `127.0.0.1:${serve.port}`]);
    expect(result.code).toBe(EXIT.AUTH);
    expect(errorLine(result.stderr)).toContain('this server speaks TLS and this client plain text: connect with its token');
    expect(await listTree(root)).toEqual([]);
  });

  it('a TLS client at a plain server: exit 8, the server speaks plain text; the server logs that the client speaks TLS', async () => {
    const { serve, root } = await served([]);
    const result = await runFtx(['put', file, `127.0.0.1:${serve.port}`, '--token', TOKEN]);
    expect(result.code).toBe(EXIT.PROTOCOL);
    expect(errorLine(result.stderr)).toMatch(/127\.0\.0\.1:\d+ speaks plain text, not TLS, and this client speaks TLS.*ftx server without TLS/);
    expect(await listTree(root)).toEqual([]);
    await expect.poll(() => serve.log()).toContain('the client speaks TLS and this server plain text');
  });
});

describe('certificates', () => {
  it('--tls-self-signed: made once and kept; --tls-fingerprint pins it, --tls-ca trusts it; a wrong pin names both fingerprints', async () => {
    const state = join(tmp.dir, 'state');
    const env = { XDG_STATE_HOME: state };
    const first = await served(['--tls-self-signed'], env);
    const fingerprint = /TLS certificate (sha256:[0-9a-f]{64}) \(made in /.exec(first.serve.log())?.[1];
    expect(fingerprint, first.serve.log()).toBeDefined();
    const port = first.serve.port;
    expect((await runFtx(['put', file, `127.0.0.1:${port}`, '--tls-fingerprint', fingerprint!])).code).toBe(EXIT.OK);
    const colons = `sha256:${fingerprint!.slice(7).toUpperCase().match(/../g)!.join(':')}`;
    expect((await runFtx(['put', file, `127.0.0.1:${port}`, '--tls-fingerprint', colons, '--force'])).code).toBe(EXIT.OK);
    const certFile = join(state, 'ftx', 'tls', 'server-cert.pem');
    expect((await runFtx(['put', file, `127.0.0.1:${port}`, '--tls-ca', certFile, '--force'])).code).toBe(EXIT.OK);
    expect(await listTree(first.root)).toEqual(['secret-plans.txt']);
    const wrong = `sha256:${'0'.repeat(64)}`;
    const refused = await runFtx(['put', file, `127.0.0.1:${port}`, '--tls-fingerprint', wrong, '--force']);
    expect(refused.code).toBe(EXIT.AUTH);
    expect(errorLine(refused.stderr)).toContain(`certificate mismatch at 127.0.0.1:${port}: expected ${wrong}, the server presented ${fingerprint}`);
    // Another CA: refused, naming the certificate seen.
    const other = await makeCertificate(tmp.dir, 'other-ca');
    const untrusted = await runFtx(['put', file, `127.0.0.1:${port}`, '--tls-ca', other.cert, '--force']);
    expect(untrusted.code).toBe(EXIT.AUTH);
    expect(errorLine(untrusted.stderr)).toContain(`(${fingerprint}) is not signed by the --tls-ca certificate`);
    await first.serve.stop();
    const second = await served(['--tls-self-signed'], env);
    expect(second.serve.log()).toContain(`TLS certificate ${fingerprint} (kept in `);
  });

  it('--tls-cert/--tls-key with a token: clients with the token use its PSK, clients with --tls-ca prove the token inside TLS', async () => {
    const { cert, key } = await makeCertificate(tmp.dir, 'server');
    const { serve, root } = await served(['--tls-cert', cert, '--tls-key', key, '--token', TOKEN]);
    expect(serve.log()).toContain("TLS 1.3 with the token's PSK or the certificate");
    expect((await runFtx(['put', file, `127.0.0.1:${serve.port}`, '--token', TOKEN])).code).toBe(EXIT.OK);
    expect((await runFtx(['put', file, `127.0.0.1:${serve.port}`, '--token', TOKEN, '--tls-ca', cert, '--name', 'x', '--force'].filter((a, i, all) => a !== '--name' && all[i - 1] !== '--name'))).code).toBe(EXIT.OK);
    const noToken = await runFtx(['put', file, `127.0.0.1:${serve.port}`, '--tls-ca', cert, '--force']);
    expect(noToken.code).toBe(EXIT.AUTH);
    expect(errorLine(noToken.stderr)).toContain('401 auth_failed');
    expect(await listTree(root)).toEqual(['secret-plans.txt']);
  });
});

describe('another TLS 1.3 library connects with the PSK of docs/PROTOCOL.md §14.6', () => {
  it('openssl s_client gets the server hello, auth tls-psk', async () => {
    const doc = await readFile(new URL('../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const token = /Worked example: token `(ftx1_[^`]+)`/.exec(doc)![1]!;
    const { tokenId, psk } = deriveTokenKeys(token);
    const command = /```sh\n(openssl s_client[^`]+)```/.exec(doc)![1]!.replace(/\\\n\s*/g, '').trim().split(/\s+/);
    expect(command).toEqual(['openssl', 's_client', '-connect', '127.0.0.1:7420', '-tls1_3', '-ciphersuites', 'TLS_AES_128_GCM_SHA256',
      '-psk_identity', tokenId, '-psk', psk.toString('hex'), '-quiet']);
    const { serve } = await served(['--token', token]);
    const args = command.slice(1).map((arg) => (arg === '127.0.0.1:7420' ? `127.0.0.1:${serve.port}` : arg));
    const client = spawn(command[0]!, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = Buffer.alloc(0);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no hello from openssl s_client: ${out.toString('latin1')}`)), 10_000);
        client.stdout.on('data', (data: Buffer) => {
          out = Buffer.concat([out, data]);
          if (out.includes('"auth":"tls-psk"')) {
            clearTimeout(timer);
            resolve();
          }
        });
        client.on('error', reject);
      });
      expect(out.subarray(4).toString('utf8')).toMatch(/^\{"type":"hello","protocol":1,/);
    } finally {
      client.kill();
    }
  });
});
