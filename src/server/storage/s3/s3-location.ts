/**
 * `s3://bucket[/prefix]` targets and the settings of the S3 client that the standard AWS variables
 * and files do not cover. Pure: no SDK import, so the CLI can parse an s3 target without loading it.
 */
import { UsageError } from '../../../errors.js';

/** Where in a bucket the served tree lives. */
export interface S3Location {
  bucket: string;
  /** "" for the whole bucket, else "a/b/" (always ends with "/"). */
  prefix: string;
}

/** True when a serve target names an object store rather than a directory. */
export function isS3Target(target: string): boolean {
  return target.startsWith('s3://');
}

// S3 bucket naming rules (3-63 chars, lowercase letters, digits, dots, hyphens); also what RGW accepts.
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket[/prefix]`; throws UsageError with one clear line on anything else. */
export function parseS3Target(target: string): S3Location {
  if (!isS3Target(target)) throw new UsageError(`${target} is not an s3://bucket[/prefix] target`);
  const rest = target.slice('s3://'.length);
  const slash = rest.indexOf('/');
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new UsageError(`${target}: "${bucket}" is not a valid bucket name (3-63 of a-z 0-9 . -)`);
  }
  const parts = slash < 0 ? [] : rest.slice(slash + 1).split('/').filter((p) => p !== '');
  for (const part of parts) {
    if (part === '.' || part === '..' || part === '.ftx-state' || /[\u0000-\u001f\u007f\\]/.test(part)) {
      throw new UsageError(`${target}: the prefix may not contain "${part}"`);
    }
  }
  return { bucket, prefix: parts.length === 0 ? '' : `${parts.join('/')}/` };
}

/** How the client addresses the bucket: in the path (RGW, MinIO) or in the host name (AWS). */
export type S3Addressing = 'path' | 'virtual' | 'auto';

/** Client settings for which AWS has no standard variable; the rest comes from AWS_* and ~/.aws. */
export interface S3ClientSettings {
  /** Overrides AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL / the profile's endpoint_url. */
  endpoint?: string;
  /** Overrides AWS_REGION / the profile's region; default us-east-1 when none is configured. */
  region?: string;
  /** Overrides AWS_PROFILE. */
  profile?: string;
  /** auto (default): path-style when an endpoint is configured (a non-AWS store), else virtual-hosted. */
  addressing?: S3Addressing;
  /** Deadline of one small request (HEAD, small PUT, list), ms; default 10 s. */
  requestTimeoutMs?: number;
}

/** The endpoint the standard variables name, if any (the SDK reads the same ones itself). */
export function configuredEndpoint(settings: S3ClientSettings, env: NodeJS.ProcessEnv): string | undefined {
  return settings.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
}

/** Whether requests put the bucket in the path. */
export function usesPathStyle(settings: S3ClientSettings, env: NodeJS.ProcessEnv): boolean {
  const addressing = settings.addressing ?? 'auto';
  if (addressing !== 'auto') return addressing === 'path';
  return configuredEndpoint(settings, env) !== undefined;
}
