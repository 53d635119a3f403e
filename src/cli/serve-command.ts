/** `ftx serve [dir]`: plan from argv (pure), then listen until SIGINT/SIGTERM. */
import { statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { FtxError, UsageError } from '../errors.js';
import { DEFAULT_HEARTBEAT_MS, DEFAULT_PORT } from '../protocol/constants.js';
import { generateToken, tokenWeakness } from '../protocol/tokens.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_PARTIAL_TTL_MS } from '../server/defaults.js';
import { startServer, type RunningServer } from '../server/server.js';
import type { CertificatePair } from '../transport/tls-config.js';
import { lineWriter, type CliIo, type LineWriter } from './io.js';
import { resolveToken } from './option-parsers.js';
import { loadTokensFile, type TokenSet } from '../server/auth/token-set.js';
import { isS3Target, parseS3Target, type S3Addressing, type S3ClientSettings, type S3Location } from '../server/storage/s3/s3-location.js';
import type { Storage } from '../server/storage/storage.js';
import { loadSelfSigned } from './self-signed.js';
import { isLoopbackHost, planServeTls, type ServeTlsCliOptions, type ServeTlsPlan } from './tls-options.js';

export { isLoopbackHost } from './tls-options.js';

/** Commander's options of `serve`, values already checked and converted (program.ts). */
export interface ServeCliOptions extends ServeTlsCliOptions {
  host?: string;
  port?: number;
  token?: string;
  tokenFile?: string;
  tokens?: string;
  maxSize?: number;
  idleTimeout?: number;
  heartbeat?: number;
  partialTtl?: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  maxBuffer?: number;
  /** --verify-rate, MiB/s. */
  verifyRate?: number;
  /** --hash-threads: threads hashing uploads (default one per core). */
  hashThreads?: number;
  quiet?: boolean;
  s3Endpoint?: string;
  s3Region?: string;
  s3Profile?: string;
  s3Addressing?: S3Addressing;
  s3Timeout?: number;
}

/** Everything `serve` will do. */
export interface ServePlan {
  root: string;
  host: string;
  port: number;
  token?: string;
  /** Several tokens with scopes, from --tokens. */
  tokens?: TokenSet;
  /** True when the token was generated here (it is printed so clients can use it). */
  tokenGenerated: boolean;
  maxSize?: number;
  /** Threads hashing uploads into a directory (unset: one per core). */
  hashThreads?: number;
  idleTimeoutMs: number;
  heartbeatMs: number;
  partialTtlMs: number;
  maxConnections?: number;
  maxConnectionsPerAddress?: number;
  maxBufferBytes?: number;
  /** Bytes per second all scrubs may read. */
  verifyRateBytes?: number;
  quiet: boolean;
  /** An object store instead of a directory (`s3://bucket[/prefix]`). */
  s3?: { location: S3Location; settings: S3ClientSettings };
  /** Certificate to speak TLS with (a token alone gives TLS with its PSK). */
  tls: ServeTlsPlan;
  /** --insecure-plaintext: no TLS even with a token. */
  insecurePlaintext: boolean;
}

/**
 * Decides the plan. No unauthenticated writes from the network: without a token the default host
 * is 127.0.0.1; a non-loopback --host without a token gets a random token generated for this run.
 * With a token the default host is every interface (::, or 0.0.0.0 where IPv6 is off).
 */
export function planServe(dir: string | undefined, options: ServeCliOptions): ServePlan {
  const root = dir ?? '.';
  const s3 = planS3(root, options);
  if (s3 === undefined) {
    let isDirectory = false;
    try {
      isDirectory = statSync(root).isDirectory();
    } catch {
      isDirectory = false;
    }
    if (!isDirectory) throw new UsageError(`${root} is not a directory`);
  } else if (options.hashThreads !== undefined) {
    // Said rather than ignored: the object store's md5 runs on the event loop (its state is saved in the bucket).
    throw new UsageError('--hash-threads applies to a directory; an s3:// target hashes on the event loop');
  }
  let token = resolveToken(options);
  const tokens = options.tokens !== undefined ? loadTokensFile(options.tokens) : undefined;
  if (tokens && token !== undefined) throw new UsageError('--tokens cannot be combined with --token or --token-file (FTX_TOKEN, FTX_TOKEN_FILE)');
  const host = options.host ?? (token || tokens ? '::' : '127.0.0.1');
  let tokenGenerated = false;
  if (!token && !tokens && !isLoopbackHost(host)) {
    token = generateToken();
    tokenGenerated = true;
  }
  // A token that can be guessed offline from one recorded handshake protects nothing on a network.
  if (!isLoopbackHost(host)) {
    const weakness = token !== undefined && !tokenGenerated ? tokenWeakness(token) : undefined;
    if (weakness) throw new UsageError(`refusing to serve ${host} with this token: ${weakness}`);
    for (const entry of tokens?.entries() ?? []) {
      const why = tokenWeakness(entry.token);
      if (why) throw new UsageError(`refusing to serve ${host} with the token of ${entry.label} in ${options.tokens}: ${why}`);
    }
  }
  const tls = planServeTls(options);
  if (tls.kind === 'files') checkCertificate(tls.certificate);
  return {
    root,
    host,
    port: options.port ?? DEFAULT_PORT,
    ...(token !== undefined ? { token } : {}),
    ...(tokens !== undefined ? { tokens } : {}),
    tokenGenerated,
    ...(options.maxSize !== undefined ? { maxSize: options.maxSize } : {}),
    ...(options.hashThreads !== undefined ? { hashThreads: options.hashThreads } : {}),
    idleTimeoutMs: options.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS,
    heartbeatMs: options.heartbeat ?? DEFAULT_HEARTBEAT_MS,
    partialTtlMs: options.partialTtl ?? DEFAULT_PARTIAL_TTL_MS,
    ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
    ...(options.maxConnectionsPerAddress !== undefined ? { maxConnectionsPerAddress: options.maxConnectionsPerAddress } : {}),
    ...(options.maxBuffer !== undefined ? { maxBufferBytes: options.maxBuffer } : {}),
    ...(options.verifyRate !== undefined ? { verifyRateBytes: options.verifyRate * 1024 * 1024 } : {}),
    quiet: options.quiet ?? false,
    ...(s3 !== undefined ? { s3 } : {}),
    tls,
    insecurePlaintext: options.insecurePlaintext ?? false,
  };
}


/** The store of an `s3://` target; the --s3-* options make sense only with one. */
function planS3(target: string, options: ServeCliOptions): ServePlan['s3'] {
  const given = (['s3Endpoint', 's3Region', 's3Profile', 's3Addressing', 's3Timeout'] as const).filter((k) => options[k] !== undefined);
  if (!isS3Target(target)) {
    if (given.length > 0) throw new UsageError(`--${given[0]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs an s3://bucket[/prefix] target`);
    return undefined;
  }
  return {
    location: parseS3Target(target),
    settings: {
      ...(options.s3Endpoint !== undefined ? { endpoint: options.s3Endpoint } : {}),
      ...(options.s3Region !== undefined ? { region: options.s3Region } : {}),
      ...(options.s3Profile !== undefined ? { profile: options.s3Profile } : {}),
      ...(options.s3Addressing !== undefined ? { addressing: options.s3Addressing } : {}),
      ...(options.s3Timeout !== undefined ? { requestTimeoutMs: options.s3Timeout } : {}),
    },
  };
}

/**
 * Opens the object store. The S3 backend (and the AWS SDK, an optional dependency) is loaded only
 * here, by a dynamic import the CLI bundle leaves external: `ftx put` and disk serving never load it.
 */
async function openS3Storage(s3: NonNullable<ServePlan['s3']>, partialTtlMs: number, warn: (line: string) => void): Promise<Storage> {
  let backend: typeof import('../server/storage/s3/s3-storage.js');
  try {
    backend = await import('../server/storage/s3/s3-storage.js');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
    throw new UsageError('serving s3:// needs the optional dependencies @aws-sdk/client-s3 and hash-wasm (installed unless --omit=optional)');
  }
  // --max-size is enforced above every backend (server/uploads/: before the body, and on it as it
  // arrives), so it is given to startServer only, as for a directory. The TTL sets the bucket
  // lifecycle backstop's days (a store that refuses it is a warning).
  return backend.S3Storage.open(s3.location, s3.settings, { partialTtlMs, warn });
}

/** A certificate and key that do not go together (or are not PEM) are a usage error, said at once. */
function checkCertificate(certificate: CertificatePair): void {
  try {
    createSecureContext({ cert: certificate.cert, key: certificate.key });
  } catch (error) {
    throw new UsageError(`--tls-cert/--tls-key: ${(error as Error).message.split('\n')[0]}`);
  }
}

/** How the server's connections are protected, for its start-up line. */
function describeSecurity(plan: ServePlan, certificate: CertificatePair | undefined): string {
  const auth = plan.tokens ? `tokens file: ${plan.tokens.size} token(s) with scopes` : plan.token ? 'token required' : undefined;
  if (!auth) return certificate ? 'no token: loopback only; TLS 1.3 with a certificate' : 'no token: loopback only';
  if (plan.insecurePlaintext) return `${auth}; INSECURE plain text: --insecure-plaintext`;
  return `${auth}; TLS 1.3 with the token's PSK${certificate ? ' or the certificate' : ''}`;
}

async function listen(plan: ServePlan, lines: LineWriter | undefined, host: string, certificate: CertificatePair | undefined,
  storage: Storage | undefined): Promise<RunningServer> {
  return startServer({
    ...(certificate ? { certificate } : {}),
    insecurePlaintext: plan.insecurePlaintext,
    ...(storage !== undefined ? { storage } : { root: plan.root }),
    host,
    port: plan.port,
    idleTimeoutMs: plan.idleTimeoutMs,
    heartbeatMs: plan.heartbeatMs,
    partialTtlMs: plan.partialTtlMs,
    ...(plan.token !== undefined ? { token: plan.token } : {}),
    ...(plan.tokens !== undefined ? { tokens: plan.tokens } : {}),
    ...(plan.maxSize !== undefined ? { maxSize: plan.maxSize } : {}),
    ...(plan.hashThreads !== undefined ? { hashThreads: plan.hashThreads } : {}),
    ...(plan.maxConnections !== undefined ? { maxConnections: plan.maxConnections } : {}),
    ...(plan.maxConnectionsPerAddress !== undefined ? { maxConnectionsPerAddress: plan.maxConnectionsPerAddress } : {}),
    ...(plan.maxBufferBytes !== undefined ? { maxBufferBytes: plan.maxBufferBytes } : {}),
    ...(plan.verifyRateBytes !== undefined ? { verifyRate: plan.verifyRateBytes } : {}),
    log: lines && ((line) => lines.write(line)),
  });
}

/**
 * Listens on the plan's host, or on 0.0.0.0 when it is "::" and IPv6 is off. An object store is
 * opened once, for both tries (a failed listen leaves a given storage open), and closed if neither binds.
 */
async function listenWithFallback(plan: ServePlan, lines: LineWriter | undefined, certificate: CertificatePair | undefined,
  warn: (line: string) => void): Promise<RunningServer> {
  const storage = plan.s3 !== undefined ? await openS3Storage(plan.s3, plan.partialTtlMs, warn) : undefined;
  try {
    return await listen(plan, lines, plan.host, certificate, storage);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (!(error instanceof FtxError) && plan.host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
      return await listen(plan, lines, '0.0.0.0', certificate, storage).catch(async (again: unknown) => {
        await storage?.close();
        throw again;
      });
    }
    await storage?.close();
    if (error instanceof FtxError) throw error;
    throw new UsageError(`cannot listen on ${plan.host}:${plan.port}: ${code ?? String(error)}`);
  }
}

/** Serves until SIGINT or SIGTERM, then stops accepting, drops connections and removes temp files. */
export async function runServe(plan: ServePlan, io: CliIo): Promise<void> {
  const lines = plan.quiet ? undefined : lineWriter(io.stderr);
  const selfSigned = plan.tls.kind === 'self-signed' ? await loadSelfSigned(process.env) : undefined;
  const certificate = plan.tls.kind === 'files' ? plan.tls.certificate : selfSigned;
  const warn = (line: string): void => void io.stderr.write(`${line}\n`);
  const server = await listenWithFallback(plan, lines, certificate, warn);
  const shown = server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
  if (selfSigned) {
    io.stderr.write(`ftx: TLS certificate ${selfSigned.fingerprint} (${selfSigned.created ? 'made' : 'kept'} in ${selfSigned.dir}): clients pin it with --tls-fingerprint ${selfSigned.fingerprint}\n`);
  }
  io.stderr.write(`ftx: serving ${server.root} on ${shown} (${describeSecurity(plan, certificate)})\n`);
  if (!server.exclusive) {
    io.stderr.write('ftx: warning: flock(1) (util-linux) not found: a second ftx serve on this directory would not be refused\n');
  }
  if (plan.tokenGenerated) {
    io.stderr.write(`ftx: no token configured for a network address; generated one for this run: ${plan.token}\n`);
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      // A second signal during shutdown exits at once.
      process.once(signal as NodeJS.Signals, () => process.exit(130));
      lines?.flush();
      if (!plan.quiet) io.stderr.write(`ftx: ${signal}: shutting down\n`);
      void server.close().then(() => {
        lines?.flush();
        resolve();
      });
    };
    const onInt = (): void => stop('SIGINT');
    const onTerm = (): void => stop('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}
