/**
 * The TLS options of the commands (README "Security"): on clients (put, get) --tls-ca,
 * --tls-fingerprint and --insecure-plaintext; on serve --tls-cert/--tls-key, --tls-self-signed and
 * --insecure-plaintext. Parsing and the plain-text rule live here once for every command.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError } from '../errors.js';
import { normalizeFingerprint, type CertificatePair, type ClientTls } from '../transport/tls-config.js';

/** True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

/** `--tls-fingerprint`: "sha256:" and 64 hex digits (colons allowed, as openssl prints them). */
export function parseFingerprint(text: string): string {
  const fingerprint = normalizeFingerprint(text);
  if (!fingerprint) throw new InvalidArgumentError('Expected sha256: and 64 hex digits (as `openssl x509 -noout -fingerprint -sha256` or `ftx serve --tls-self-signed` print it).');
  return fingerprint;
}

/** Commander's TLS options of a client command. */
export interface ClientTlsCliOptions {
  tlsCa?: string;
  tlsFingerprint?: string;
  insecurePlaintext?: boolean;
}

/** Adds --tls-ca, --tls-fingerprint and --insecure-plaintext to a client command. */
export function addClientTlsOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls-ca <file>', 'the server has a certificate (--tls-cert): trust it if signed by this CA (PEM); the token is then sent inside TLS').env('FTX_TLS_CA'))
    .addOption(new Option('--tls-fingerprint <sha256:hex>', 'the server has a certificate: trust exactly this one (as ftx serve --tls-self-signed prints it)')
      .argParser(parseFingerprint).env('FTX_TLS_FINGERPRINT'))
    .option('--insecure-plaintext', 'INSECURE: plain TCP even with a token or to a network address; anyone on the path reads and can alter everything');
}

function readPem(option: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${option}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** How a client connects: TLS settings and the plain-text permission, for ClientOptions. */
export interface ClientTlsPlan {
  tls?: ClientTls;
  insecurePlaintext?: true;
}

/**
 * Decides how a client talks to `host`: a certificate check (--tls-ca, --tls-fingerprint), else TLS
 * with the token's PSK, else plain text, which is allowed only to a loopback address or with
 * --insecure-plaintext. Throws UsageError.
 */
export function planClientTls(options: ClientTlsCliOptions, host: string, token: string | undefined): ClientTlsPlan {
  const { tlsCa, tlsFingerprint, insecurePlaintext } = options;
  if (tlsCa !== undefined && tlsFingerprint !== undefined) throw new UsageError('--tls-ca and --tls-fingerprint: give one of them');
  if (insecurePlaintext && (tlsCa !== undefined || tlsFingerprint !== undefined)) {
    throw new UsageError('--insecure-plaintext cannot be combined with --tls-ca or --tls-fingerprint');
  }
  if (tlsFingerprint !== undefined) return { tls: { kind: 'certificate', fingerprint: tlsFingerprint } };
  if (tlsCa !== undefined) {
    const ca = readPem('--tls-ca', tlsCa);
    try {
      new X509Certificate(ca);
    } catch {
      throw new UsageError(`--tls-ca: ${tlsCa} is not a PEM certificate`);
    }
    return { tls: { kind: 'certificate', ca } };
  }
  if (insecurePlaintext) return { insecurePlaintext: true };
  if (token !== undefined) return { tls: { kind: 'psk', token } };
  if (!isLoopbackHost(host)) {
    throw new UsageError(`no token for ${host}, a network address: everything would travel in plain text; give the server's token (then TLS), --tls-ca/--tls-fingerprint, or --insecure-plaintext on a trusted network only`);
  }
  return {};
}

/** Commander's TLS options of serve. */
export interface ServeTlsCliOptions {
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean;
  insecurePlaintext?: boolean;
}

/** Adds --tls-cert, --tls-key, --tls-self-signed and --insecure-plaintext to serve. */
export function addServeTlsOptions(command: Command): Command {
  return command
    .addOption(new Option('--tls-cert <file>', 'speak TLS with this certificate (PEM; with --tls-key), for clients with --tls-ca or --tls-fingerprint').env('FTX_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'private key of --tls-cert (PEM)').env('FTX_TLS_KEY'))
    .option('--tls-self-signed', 'speak TLS with a self-signed certificate made once under ~/.local/state/ftx/tls/ (reused); prints its fingerprint for --tls-fingerprint')
    .option('--insecure-plaintext', 'INSECURE: plain TCP even with a token (the token is proved by HMAC; files, names and frames travel readable and alterable)');
}

/** What serve's TLS options ask for. */
export type ServeTlsPlan = { kind: 'none' } | { kind: 'files'; certificate: CertificatePair } | { kind: 'self-signed' };

/** Reads serve's TLS options; throws UsageError. */
export function planServeTls(options: ServeTlsCliOptions): ServeTlsPlan {
  const { tlsCert, tlsKey, tlsSelfSigned, insecurePlaintext } = options;
  const withCertificate = tlsCert !== undefined || tlsKey !== undefined || tlsSelfSigned === true;
  if (insecurePlaintext && withCertificate) throw new UsageError('--insecure-plaintext cannot be combined with --tls-cert, --tls-key or --tls-self-signed');
  if (tlsSelfSigned) {
    if (tlsCert !== undefined || tlsKey !== undefined) throw new UsageError('--tls-self-signed makes its own certificate: no --tls-cert/--tls-key with it');
    return { kind: 'self-signed' };
  }
  if (tlsCert === undefined && tlsKey === undefined) return { kind: 'none' };
  if (tlsCert === undefined || tlsKey === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  return { kind: 'files', certificate: { cert: readPem('--tls-cert', tlsCert), key: readPem('--tls-key', tlsKey) } };
}
