/**
 * `ftx serve --tls-self-signed`: a P-256 key and a self-signed certificate made once with the
 * `openssl` command (Node can make keys but not sign X.509 certificates) under the user's state
 * directory, `$XDG_STATE_HOME/ftx/tls/` (else `~/.local/state/ftx/tls/`), and reused on every
 * restart so that pinned fingerprints stay valid. Never inside a served directory: a read-side bug
 * there could hand out the key.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../errors.js';
import { pemFingerprint, type CertificatePair } from '../transport/tls-config.js';

const run = promisify(execFile);

/** A certificate pair with its fingerprint and where it is kept. */
export interface SelfSigned extends CertificatePair {
  fingerprint: string;
  dir: string;
  /** True when it was made by this call (else an earlier one was reused). */
  created: boolean;
}

/** Where the self-signed certificate lives. */
export function selfSignedDir(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_STATE_HOME ? join(env.XDG_STATE_HOME, 'ftx') : join(homedir(), '.local', 'state', 'ftx'), 'tls');
}

async function readPair(dir: string): Promise<CertificatePair | undefined> {
  try {
    return { cert: await readFile(join(dir, 'server-cert.pem'), 'utf8'), key: await readFile(join(dir, 'server-key.pem'), 'utf8') };
  } catch {
    return undefined;
  }
}

async function makePair(dir: string): Promise<void> {
  const stem = join(dir, `.new-${process.pid}`);
  const [key, cert] = [`${stem}-key.pem`, `${stem}-cert.pem`];
  try {
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-sha256',
      '-keyout', key, '-out', cert, '-days', '3650', '-subj', `/CN=ftx ${hostname().slice(0, 40)}`], { timeout: 30_000 });
    await chmod(key, 0o600);
    // The key first: a reader that finds the certificate finds its key too.
    await rename(key, join(dir, 'server-key.pem'));
    await rename(cert, join(dir, 'server-cert.pem'));
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' && !(error as { path?: string }).path?.startsWith(dir);
    throw new UsageError(missing
      ? '--tls-self-signed needs the openssl command to make the certificate (apt-get install openssl), or give --tls-cert and --tls-key'
      : `--tls-self-signed: cannot make a certificate in ${dir}: ${(error as Error).message.split('\n')[0]}`);
  } finally {
    await rm(key, { force: true });
    await rm(cert, { force: true });
  }
}

/** The certificate pair, made on first use. Throws UsageError when it can be neither read nor made. */
export async function loadSelfSigned(env: NodeJS.ProcessEnv): Promise<SelfSigned> {
  const dir = selfSignedDir(env);
  let pair = await readPair(dir);
  const created = pair === undefined;
  if (!pair) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await makePair(dir);
    pair = await readPair(dir);
    if (!pair) throw new UsageError(`--tls-self-signed: the certificate made in ${dir} cannot be read back`);
  }
  try {
    return { ...pair, fingerprint: pemFingerprint(pair.cert), dir, created };
  } catch {
    throw new UsageError(`--tls-self-signed: ${join(dir, 'server-cert.pem')} is not a PEM certificate; remove it to make a new one`);
  }
}
