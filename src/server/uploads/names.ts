/**
 * Client-supplied filenames, checked before any disk access (docs/PROTOCOL.md, "Filenames").
 * A name is a relative POSIX path of one or more segments; anything that could leave the served
 * root, confuse a terminal or a log line, or collide with the server's own files is refused.
 */
import { StatusError } from '../../errors.js';
import { ERROR_CODE, MAX_FILENAME_BYTES, MAX_SEGMENT_BYTES, RESERVED_PREFIX, STATUS } from '../../protocol/constants.js';

function forbidden(message: string): StatusError {
  return new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, message);
}

// C0 controls, DEL and C1 controls: never part of a name we write or log.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Splits a client filename into safe segments, or throws StatusError 403 `forbidden_path`. */
export function splitSafeFilename(filename: string): string[] {
  if (filename.length === 0) throw forbidden('empty filename');
  if (Buffer.byteLength(filename, 'utf8') > MAX_FILENAME_BYTES) {
    throw forbidden(`filename longer than ${MAX_FILENAME_BYTES} bytes`);
  }
  if (CONTROL_CHARACTERS.test(filename)) throw forbidden('filename contains NUL or control characters');
  // A lone surrogate would be stored as U+FFFD: two different names, one file.
  if (LONE_SURROGATE.test(filename)) throw forbidden('filename is not well-formed Unicode');
  if (filename.includes('\\')) throw forbidden('filename contains a backslash (use "/" between directories)');
  if (filename.startsWith('/')) throw forbidden('absolute filenames are not allowed');
  if (/^[A-Za-z]:/.test(filename)) throw forbidden('drive-letter filenames are not allowed');
  const segments = filename.split('/');
  for (const segment of segments) {
    if (segment === '') throw forbidden('filename has an empty path segment');
    if (segment === '.' || segment === '..') throw forbidden('"." and ".." segments are not allowed');
    if (Buffer.byteLength(segment, 'utf8') > MAX_SEGMENT_BYTES) {
      throw forbidden(`path segment longer than ${MAX_SEGMENT_BYTES} bytes`);
    }
    if (segment.startsWith(RESERVED_PREFIX)) {
      throw forbidden(`names starting with "${RESERVED_PREFIX}" are reserved for the server`);
    }
  }
  return segments;
}

/** The normalized form of a client filename ("a/b.txt"), or StatusError 403 `forbidden_path`. */
export function normalizeName(filename: string): string {
  return splitSafeFilename(filename).join('/');
}

/** "a/db.sql.gz", 2 → "a/db.2.sql.gz"; ".bashrc", 1 → ".bashrc.1" (the number goes before the extensions). */
export function numberedName(path: string, n: number): string {
  const slash = path.lastIndexOf('/') + 1;
  const base = path.slice(slash);
  const dot = base.indexOf('.', 1);
  const named = dot < 0 ? `${base}.${n}` : `${base.slice(0, dot)}.${n}${base.slice(dot)}`;
  return path.slice(0, slash) + named;
}
