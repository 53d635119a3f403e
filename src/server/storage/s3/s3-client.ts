/**
 * The SDK client ftx uses for an s3:// target: endpoint, region, credentials and addressing from the
 * standard AWS variables and files plus ftx's own settings; Content-MD5 instead of the SDK's CRC
 * trailers; a keep-alive agent; requestTimeout with throwOnRequestTimeout (a socket-idle guard that on
 * its own only warns); the store's Date header kept on every reply.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { configuredEndpoint, usesPathStyle, type S3ClientSettings } from './s3-location.js';

/** The deadline of a call without a large body, ms. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** A part gets at least this long, and 1 s per MiB beyond (a store slower than 1 MiB/s is failing). */
export const PART_MIN_TIMEOUT_MS = 30_000;

const SILENT = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

const nonEmpty = (value: string | undefined): string | undefined => (value === '' ? undefined : value);

/**
 * The region: ftx's setting, AWS_REGION or AWS_DEFAULT_REGION, else what the SDK's own chain finds
 * (the profile's `region` in the shared config file; read by a client built for nothing else, once),
 * else us-east-1 (RGW and MinIO take any region).
 */
function regionOf(settings: S3ClientSettings, env: NodeJS.ProcessEnv): string | (() => Promise<string>) {
  const set = settings.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION);
  if (set !== undefined) return set;
  const probe = new S3Client(settings.profile !== undefined ? { profile: settings.profile } : {});
  let found: Promise<string> | undefined;
  return () => (found ??= probe.config.region().catch(() => 'us-east-1').finally(() => probe.destroy()));
}

/** Builds the SDK client from the standard AWS variables and files plus ftx's own settings. */
export function createS3Client(settings: S3ClientSettings, env: NodeJS.ProcessEnv = process.env): S3Client {
  // ftx pins the SDK (package.json), so its warning about *later* versions needing Node 22 does not
  // apply to this build; it would be a multi-line stderr message on every start of `ftx serve s3://`.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const endpoint = configuredEndpoint(settings, env);
  const timeout = settings.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const agentOptions = { keepAlive: true, maxSockets: 64 };
  const client = new S3Client({
    ...(settings.endpoint !== undefined ? { endpoint: settings.endpoint } : {}),
    ...(settings.profile !== undefined ? { profile: settings.profile } : {}),
    region: regionOf(settings, env),
    forcePathStyle: usesPathStyle(settings, env),
    // ftx sends Content-MD5 itself; the SDK's default CRC trailers (aws-chunked) break RGW Pacific.
    ...(env.AWS_REQUEST_CHECKSUM_CALCULATION === undefined ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const } : {}),
    ...(env.AWS_RESPONSE_CHECKSUM_VALIDATION === undefined ? { responseChecksumValidation: 'WHEN_REQUIRED' as const } : {}),
    requestHandler: {
      connectionTimeout: Math.min(timeout, 5_000),
      requestTimeout: Math.max(timeout, PART_MIN_TIMEOUT_MS),
      throwOnRequestTimeout: true,
      // Its warnings are not for ftx's users: requests queue for a socket on purpose (at most 64
      // open), and a request timeout is an error here, reported as one (s3-errors.ts).
      logger: SILENT,
      ...(endpoint?.startsWith('http://') ? { httpAgent: new HttpAgent(agentOptions) } : { httpsAgent: new HttpsAgent(agentOptions) }),
    },
  });
  // The store's Date header, so that lease expiry is judged on one clock (the store's).
  client.middlewareStack.add((next) => async (args) => {
    const result = await next(args);
    const date = (result.response as { headers?: Record<string, string> } | undefined)?.headers?.date;
    if (date !== undefined && result.output !== null && typeof result.output === 'object') {
      (result.output as { ftxServerTime?: number }).ftxServerTime = Date.parse(date);
    }
    return result;
  }, { step: 'deserialize', name: 'ftxServerDate' });
  return client;
}
