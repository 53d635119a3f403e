import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseDestination } from '../src/client/address.js';
import { describeError, EXIT, exitCodeFor } from '../src/cli/exit-codes.js';
import { parseChunkSize, parseSeconds, parseSize, resolveToken } from '../src/cli/option-parsers.js';
import { buildProgram } from '../src/cli/program.js';
import { exitCodeForRun, planPut } from '../src/cli/put-command.js';
import { isLoopbackHost, planServe } from '../src/cli/serve-command.js';
import { ConnectError, ConnectionLostError, FtxError, LocalFileError, ProtocolError, StatusError, UsageError, VerificationError } from '../src/errors.js';
import { makeTempDir } from './helpers/server.js';

/** The code of commander's InvalidArgumentError, which the option parsers throw. */
const INVALID = 'commander.invalidArgument';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof FtxError || error instanceof CommanderError ? error.code : String(error);
  }
  return undefined;
}

describe('destinations', () => {
  it.each([
    ['backup-host', 'backup-host', 7420],
    ['backup-host:9000', 'backup-host', 9000],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['[::1]:7421', '::1', 7421],
    ['[::1]', '::1', 7420],
    ['::1', '::1', 7420],
    ['fe80::1', 'fe80::1', 7420],
  ])('%s', (text, host, port) => {
    expect(parseDestination(text)).toEqual({ host, port });
  });

  it.each(['', ':80', 'host:0', 'host:65536', 'host:http', '[::1', '[::1]:x'])('refuses "%s"', (text) => {
    expect(codeOf(() => parseDestination(text))).toBe('usage');
  });

  it.each(['127.0.0.1:7420:1', 'a:b:c', '[backup-host]:7420', '[127.0.0.1]', '::1::2'])('refuses "%s": not an IPv6 literal', (text) => {
    expect(codeOf(() => parseDestination(text))).toBe('usage');
  });

  it('points scp habits ("host:/path") to --dir', () => {
    expect(() => parseDestination('backup-host:/srv/backups')).toThrow(/use --dir \/srv\/backups/);
    expect(() => parseDestination('backup-host:nightly')).toThrow(/use --dir nightly/);
    expect(() => parseDestination('backup-host:7420/nightly')).toThrow(/use --dir nightly/);
  });
});

describe('option values', () => {
  it('parses sizes with binary units', () => {
    expect(parseSize('4096')).toBe(4096);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('10G')).toBe(10 * 2 ** 30);
    expect(parseSize('1.5GiB')).toBe(1.5 * 2 ** 30);
    expect(codeOf(() => parseSize('ten'))).toBe(INVALID);
    expect(codeOf(() => parseSize('-1'))).toBe(INVALID);
    expect(codeOf(() => parseSize('99999999T'))).toBe(INVALID);
    expect(parseChunkSize('512')).toBe(512);
    expect(parseChunkSize('16M')).toBe(16 * 2 ** 20);
    expect(codeOf(() => parseChunkSize('511'))).toBe(INVALID);
    expect(codeOf(() => parseChunkSize('16777217'))).toBe(INVALID);
  });

  it('parses seconds', () => {
    expect(parseSeconds('0.5')).toBe(500);
    expect(codeOf(() => parseSeconds('0'))).toBe(INVALID);
    expect(codeOf(() => parseSeconds('soon'))).toBe(INVALID);
  });

  it('takes the token from --token, else from --token-file', async () => {
    const { dir, cleanup } = await makeTempDir();
    try {
      const file = join(dir, 't');
      await writeFile(file, 'from-file\nignored\n');
      expect(resolveToken({ token: 'flag', tokenFile: file })).toBe('flag');
      expect(resolveToken({ tokenFile: file })).toBe('from-file');
      expect(resolveToken({})).toBeUndefined();
      expect(codeOf(() => resolveToken({ tokenFile: join(dir, 'missing') }))).toBe('usage');
    } finally {
      await cleanup();
    }
  });
});

/** Parses `ftx <argv>` in-process with `env` set, capturing what put's or serve's action would get. */
async function parseCli(argv: string[], env: Record<string, string> = {}): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (name.startsWith('FTX_')) delete process.env[name];
  Object.assign(process.env, env);
  try {
    const program = buildProgram({ stdout: process.stdout, stderr: process.stderr });
    let seen: Record<string, unknown> = {};
    for (const command of program.commands) {
      command.action((...args: unknown[]) => {
        seen = { ...(args[args.length - 2] as Record<string, unknown>), args: args[0] };
      });
    }
    await program.parseAsync(argv, { from: 'user' });
    return seen;
  } finally {
    process.env = saved;
  }
}

describe('environment variables (commander Option.env)', () => {
  it('FTX_HOST, FTX_DIR and FTX_IF_EXISTS fill --to, --dir and --if-exists; options win', async () => {
    const fromEnv = await parseCli(['put', 'a'], { FTX_HOST: 'backup-host:7000', FTX_DIR: 'nightly', FTX_IF_EXISTS: 'rename', FTX_TOKEN: 'ftx1_' + 'e'.repeat(43) });
    expect(fromEnv).toMatchObject({ to: { host: 'backup-host', port: 7000 }, dir: 'nightly', ifExists: 'rename', args: ['a'] });
    const plan = planPut(fromEnv.args as string[], fromEnv, false);
    expect(plan.sources).toEqual(['a']);
    expect(plan.destination).toEqual({ host: 'backup-host', port: 7000 });
    const flags = await parseCli(['put', 'a', '--to', 'h:1', '--dir', 'd', '--if-exists', 'skip'], { FTX_HOST: 'x', FTX_DIR: 'y', FTX_IF_EXISTS: 'rename' });
    expect(flags).toMatchObject({ to: { host: 'h', port: 1 }, dir: 'd', ifExists: 'skip' });
    expect((await parseCli(['put', 'a', 'h'])).ifExists).toBe('fail');
  });

  it('FTX_TOKEN and FTX_TOKEN_FILE for put and serve', async () => {
    expect((await parseCli(['put', 'a', 'h'], { FTX_TOKEN: 'env' })).token).toBe('env');
    expect((await parseCli(['serve', '.'], { FTX_TOKEN_FILE: '/t' })).tokenFile).toBe('/t');
  });
});

describe('serve durations: each in the unit its help names', () => {
  it('--partial-ttl is hours, --idle-timeout and --heartbeat seconds', async () => {
    const parsed = await parseCli(['serve', '.', '--partial-ttl', '0.5', '--idle-timeout', '30', '--heartbeat', '2']);
    expect(parsed).toMatchObject({ partialTtl: 30 * 60 * 1000, idleTimeout: 30_000, heartbeat: 2000 });
    expect((await parseCli(['serve', '.', '--partial-ttl', '48'])).partialTtl).toBe(48 * 3600 * 1000);
    await expect(parseCli(['serve', '.', '--partial-ttl', '0'])).rejects.toMatchObject({ code: INVALID });
  });

  it('--hash-threads: a positive count, carried into the serve plan', async () => {
    expect((await parseCli(['serve', '.', '--hash-threads', '3'])).hashThreads).toBe(3);
    await expect(parseCli(['serve', '.', '--hash-threads', '0'])).rejects.toMatchObject({ code: INVALID });
    expect(planServe('.', { hashThreads: 3 }).hashThreads).toBe(3);
    expect(planServe('.', {}).hashThreads).toBeUndefined();
  });
});

describe('serve plan: no unauthenticated writes from the network', () => {
  it('listens on loopback only without a token', () => {
    const plan = planServe('.', {});
    expect(plan.host).toBe('127.0.0.1');
    expect(plan.token).toBeUndefined();
    expect(plan.port).toBe(7420);
  });

  it('generates a token for a non-loopback address when none is configured', () => {
    const plan = planServe('.', { host: '0.0.0.0' });
    expect(plan.tokenGenerated).toBe(true);
    expect(plan.token!.length).toBeGreaterThanOrEqual(20);
    expect(planServe('.', { host: '0.0.0.0' }).token).not.toBe(plan.token);
  });

  it('listens on all interfaces when a token is configured', () => {
    const token = 'ftx1_WxHuD0eeAEvYp3u6Xh1UjD9LQ9oRWUhsl7ALmoYmmq8';
    const plan = planServe('.', { token });
    expect(plan.host).toBe('::');
    expect(plan.token).toBe(token);
    expect(plan.tokenGenerated).toBe(false);
    expect(plan.insecurePlaintext).toBe(false);
  });

  it('refuses a token too weak for a network address, and takes any token on loopback', () => {
    expect(codeOf(() => planServe('.', { token: 'abc' }))).toBe('usage');
    expect(codeOf(() => planServe('.', { token: 'x'.repeat(64), host: '0.0.0.0' }))).toBe('usage');
    expect(planServe('.', { token: 'abc', host: '127.0.0.1' }).token).toBe('abc');
    const generated = planServe('.', { host: '0.0.0.0' }).token!;
    expect(generated).toMatch(/^ftx1_[A-Za-z0-9_-]{43}$/);
  });

  it('takes a certificate pair or --tls-self-signed, never with --insecure-plaintext', () => {
    expect(planServe('.', {}).tls).toEqual({ kind: 'none' });
    expect(planServe('.', { tlsSelfSigned: true }).tls).toEqual({ kind: 'self-signed' });
    expect(codeOf(() => planServe('.', { tlsSelfSigned: true, insecurePlaintext: true }))).toBe('usage');
    expect(codeOf(() => planServe('.', { tlsCert: 'package.json' }))).toBe('usage'); // without --tls-key
    expect(codeOf(() => planServe('.', { tlsCert: 'package.json', tlsKey: 'package.json' }))).toBe('usage'); // not PEM
    expect(codeOf(() => planServe('.', { tlsSelfSigned: true, tlsCert: 'a', tlsKey: 'b' }))).toBe('usage');
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', '127.5.0.1', '::1', 'localhost'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', 'example.org'].some(isLoopbackHost)).toBe(false);
  });
});

describe('put plan', () => {
  it('takes the destination from the last argument, else --to', () => {
    const plan = planPut(['package.json', 'tsconfig.json', '[::1]:9'], { dir: '/backups/daily/' }, false);
    expect(plan.destination).toEqual({ host: '::1', port: 9 });
    expect(plan.sources).toEqual(['package.json', 'tsconfig.json']);
    expect(plan.remoteDir).toBe('backups/daily');
    expect(plan.progress).toBe(false);
    expect(planPut(['a', 'b'], { to: { host: 'localhost', port: 1 } }, false).sources).toEqual(['a', 'b']);
  });

  it('shows progress only on a TTY and not when quiet or --no-progress', () => {
    expect(planPut(['package.json', 'localhost'], {}, true).progress).toBe(true);
    expect(planPut(['package.json', 'localhost'], { progress: false }, true).progress).toBe(false);
    expect(planPut(['package.json', 'localhost'], { quiet: true }, true).progress).toBe(false);
  });

  it('checks the stdin and policy options', () => {
    expect(planPut(['-', 'localhost'], { name: 'db.sql.gz' }, false).streamName).toBe('db.sql.gz');
    expect(codeOf(() => planPut(['-', 'localhost'], {}, false))).toBe('usage');
    expect(codeOf(() => planPut(['-', 'x', 'localhost'], { name: 'n' }, false))).toBe('usage');
    expect(planPut(['x', 'localhost'], { force: true }, false).ifExists).toBe('overwrite');
    expect(planPut(['x', 'localhost'], {}, false).ifExists).toBe('fail');
    expect(codeOf(() => planPut(['only-one'], {}, false))).toBe('usage');
  });

  it('speaks TLS with a token, checks certificates when asked, and sends plain text only to loopback or with --insecure-plaintext', () => {
    const token = 'ftx1_' + 'q'.repeat(43);
    expect(planPut(['x', 'backup-host'], { token }, false).security).toEqual({ tls: { kind: 'psk', token } });
    expect(planPut(['x', 'localhost'], {}, false).security).toEqual({});
    expect(planPut(['x', '127.0.0.9'], {}, false).security).toEqual({});
    expect(codeOf(() => planPut(['x', 'backup-host'], {}, false))).toBe('usage');
    expect(codeOf(() => planPut(['x', '10.0.0.1'], {}, false))).toBe('usage');
    expect(planPut(['x', 'backup-host'], { insecurePlaintext: true }, false).security).toEqual({ insecurePlaintext: true });
    expect(planPut(['x', 'backup-host'], { token, insecurePlaintext: true }, false).security).toEqual({ insecurePlaintext: true });
    const fingerprint = `sha256:${'ab'.repeat(32)}`;
    expect(planPut(['x', 'backup-host'], { token, tlsFingerprint: fingerprint }, false).security).toEqual({ tls: { kind: 'certificate', fingerprint } });
    expect(codeOf(() => planPut(['x', 'h'], { tlsFingerprint: fingerprint, tlsCa: 'package.json' }, false))).toBe('usage');
    expect(codeOf(() => planPut(['x', 'h'], { tlsFingerprint: fingerprint, insecurePlaintext: true }, false))).toBe('usage');
    expect(codeOf(() => planPut(['x', 'h'], { tlsCa: 'package.json' }, false))).toBe('usage'); // not a certificate
    expect(codeOf(() => planPut(['x', 'h'], { tlsCa: '/nonexistent/ca.pem' }, false))).toBe('usage');
  });

  it('gives the partial exit code only when some files failed and others made it', () => {
    expect(exitCodeForRun({ sent: 3, skipped: 1, failed: 0 })).toBe(EXIT.OK);
    expect(exitCodeForRun({ sent: 3, skipped: 0, failed: 1, firstError: new StatusError(403, 'forbidden_path', 'x') })).toBe(EXIT.PARTIAL);
    expect(exitCodeForRun({ sent: 0, skipped: 0, failed: 2, firstError: new StatusError(409, 'exists', 'x') })).toBe(EXIT.REJECTED);
    // A dry run exits as the real run would.
    expect(exitCodeForRun({ sent: 0, skipped: 0, failed: 0, dryRun: { send: 0, fail: 1 }, firstError: new StatusError(409, 'exists', 'x') })).toBe(EXIT.REJECTED);
    expect(exitCodeForRun({ sent: 0, skipped: 0, failed: 0, dryRun: { send: 2, fail: 1 }, firstError: new StatusError(409, 'exists', 'x') })).toBe(EXIT.PARTIAL);
    expect(exitCodeForRun({ sent: 0, skipped: 1, failed: 0, dryRun: { send: 2, fail: 0 } })).toBe(EXIT.OK);
  });
});

describe('exit codes', () => {
  it('maps every failure kind to its documented code', () => {
    expect(exitCodeFor(new UsageError('x'))).toBe(EXIT.USAGE);
    expect(exitCodeFor(new ConnectError('x'))).toBe(EXIT.CONNECT);
    expect(exitCodeFor(new StatusError(401, 'auth_failed', 'x'))).toBe(EXIT.AUTH);
    expect(exitCodeFor(new StatusError(409, 'exists', 'x'))).toBe(EXIT.REJECTED);
    expect(exitCodeFor(new StatusError(507, 'insufficient_storage', 'x'))).toBe(EXIT.REJECTED);
    expect(exitCodeFor(new StatusError(422, 'checksum_mismatch', 'x'))).toBe(EXIT.VERIFICATION);
    expect(exitCodeFor(new VerificationError('x'))).toBe(EXIT.VERIFICATION);
    expect(exitCodeFor(new ConnectionLostError('x'))).toBe(EXIT.CONNECTION_LOST);
    expect(exitCodeFor(new ProtocolError('x'))).toBe(EXIT.PROTOCOL);
    expect(exitCodeFor(new LocalFileError('x'))).toBe(EXIT.LOCAL_FILE);
    expect(exitCodeFor(new Error('boom'))).toBe(EXIT.INTERNAL);
    expect(describeError(new StatusError(403, 'forbidden_path', 'no'))).toBe('no (server: 403 forbidden_path)');
  });
});
