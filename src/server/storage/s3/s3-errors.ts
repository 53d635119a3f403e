/**
 * How a failed S3 call becomes a wire status (docs/PROTOCOL.md "Status codes"). A store that is full
 * makes RGW's writes hang, not fail, so every call has a deadline; a write that missed it is reported
 * as 507 and never as "nothing was stored": an aborted request can still land later.
 */
import { StatusError } from '../../../errors.js';
import { ERROR_CODE } from '../../../protocol/constants.js';

/** What the call was, for the message and for the mapping of a timeout. */
export type S3CallKind = 'read' | 'write';

/** The SDK's view of an S3 failure (the fields we use). */
interface SdkError {
  name?: string;
  Code?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

/** HTTP status of an SDK error, if the store answered at all. */
export function httpStatusOf(error: unknown): number | undefined {
  return (error as SdkError | null)?.$metadata?.httpStatusCode;
}

/** The S3 error code (NoSuchKey, PreconditionFailed, QuotaExceeded, ...), or the error's name. */
export function s3CodeOf(error: unknown): string {
  const e = error as SdkError | null;
  return e?.Code ?? e?.name ?? 'Error';
}

/** True when the call was cut by its deadline (our AbortSignal or the handler's socket timeout). */
export function isDeadlineError(error: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const name = (error as SdkError | null)?.name;
  const code = (error as SdkError | null)?.code;
  return name === 'AbortError' || name === 'TimeoutError' || code === 'ETIMEDOUT';
}

/** True when the store could not be reached at all (refused, unresolvable, TLS failure). */
function isUnreachable(error: unknown): boolean {
  const code = (error as SdkError | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH';
}

/** Maps an S3 failure to the StatusError the client sees (one clear line, no stack). */
export function toStatusError(error: unknown, kind: S3CallKind, what: string, timeoutMs: number, signal?: AbortSignal): StatusError {
  if (error instanceof StatusError) return error;
  const secs = Math.round(timeoutMs / 100) / 10;
  if (isDeadlineError(error, signal)) {
    if (kind === 'write') {
      return new StatusError(507, ERROR_CODE.INSUFFICIENT_STORAGE,
        `the object store did not accept ${what} within ${secs} s (it may be full); part of it may still land later`);
    }
    return new StatusError(503, ERROR_CODE.STORE_UNAVAILABLE, `the object store did not answer ${what} within ${secs} s`);
  }
  if (isUnreachable(error)) {
    return new StatusError(503, ERROR_CODE.STORE_UNAVAILABLE, `the object store cannot be reached at ${what} (${(error as SdkError).code})`);
  }
  const code = s3CodeOf(error);
  const status = httpStatusOf(error);
  if (code === 'QuotaExceeded' || code === 'EntityTooLarge') {
    return new StatusError(507, ERROR_CODE.INSUFFICIENT_STORAGE, `the object store refused ${what}: ${code}`);
  }
  if (code === 'SlowDown' || code === 'ServiceUnavailable' || status === 503) {
    return new StatusError(503, ERROR_CODE.STORE_UNAVAILABLE, `the object store is overloaded (${code}) at ${what}`);
  }
  const detail = status !== undefined ? ` (HTTP ${status})` : (error as SdkError | null)?.message ? ` (${(error as SdkError).message})` : '';
  return new StatusError(500, ERROR_CODE.INTERNAL, `the object store failed ${what}: ${code}${detail}`);
}

/**
 * A conditional PUT that lost: 412, or 409 ConditionalRequestConflict (AWS), or the 500 (ECANCELED)
 * RGW sends to many losing racers (design notes §4). The loser's body is never stored; callers that
 * must know (leases) HEAD afterwards and decide by their nonce.
 */
export function isConditionFailure(error: unknown): boolean {
  const status = httpStatusOf(error);
  return status === 412 || status === 409 || (status === 500 && s3CodeOf(error) !== 'QuotaExceeded');
}

/** The store answered 404 (no such key, or no such upload). */
export const is404 = (error: unknown): boolean => httpStatusOf(error) === 404;
