/** Helpers shared by the message parsers. */
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from './constants.js';

/** 32 lowercase hex digits: the wire form of an md5. */
export const MD5_HEX = /^[0-9a-f]{32}$/;

/** A 400 `bad_request` refusal. */
export function badRequest(message: string): StatusError {
  return new StatusError(STATUS.BAD_REQUEST, ERROR_CODE.BAD_REQUEST, message);
}

/** True for a safe integer within [min, max]. */
export function isSafeInteger(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
}
