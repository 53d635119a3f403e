/**
 * Names a server sends back, turned into local paths (client-side path safety, docs/PROTOCOL.md
 * §6.11): the server is not trusted. A name that could leave the local target (`..`, an absolute
 * name, a backslash, an empty or `.` segment, a control character) is refused, and so is a second
 * name that equals an earlier one after Unicode normalization (two names, one file on many systems).
 */
import { UnsafeNameError } from '../errors.js';

// C0 and C1 controls and DEL: never written to a local name (nor echoed to a terminal).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Splits a relative name into segments that are safe to create below a local directory; else throws UnsafeNameError. */
export function safeLocalSegments(name: string): string[] {
  const refuse = (why: string): never => {
    throw new UnsafeNameError(`the server sent an unsafe name ${JSON.stringify(name.slice(0, 200))}: ${why}; nothing written for it`);
  };
  if (name.length === 0) refuse('empty');
  if (CONTROL.test(name)) refuse('control characters');
  if (LONE_SURROGATE.test(name)) refuse('not well-formed Unicode');
  if (name.startsWith('/')) refuse('absolute');
  if (name.includes('\\')) refuse('a backslash');
  const segments = name.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') refuse('an empty, "." or ".." segment');
    if (Buffer.byteLength(segment, 'utf8') > 255) refuse('a segment longer than 255 bytes');
  }
  return segments;
}

/** The names of one run: each must be safe, and no two may differ only after normalization. */
export class NameGuard {
  private readonly seen = new Map<string, string>();

  /** Admits `name` (relative to the local target) or throws UnsafeNameError. */
  admit(name: string): string[] {
    const segments = safeLocalSegments(name);
    const key = name.normalize('NFC');
    const earlier = this.seen.get(key);
    if (earlier !== undefined && earlier !== name) {
      throw new UnsafeNameError(`the server sent ${JSON.stringify(name.slice(0, 200))}, which is ${JSON.stringify(earlier.slice(0, 200))} after Unicode normalization; nothing written for it`);
    }
    this.seen.set(key, name);
    return segments;
  }
}

/**
 * The name of `entry` relative to where the remote `base` lands: `base` itself for the file asked
 * for, else `base/…` only for names that really are below `base` (a server that lists anything
 * else is refused).
 */
export function nameBelow(base: string, entry: string, landAs: string): string {
  if (entry === base) return landAs;
  const prefix = base === '' ? '' : `${base}/`;
  if (!entry.startsWith(prefix) || entry.length === prefix.length) {
    throw new UnsafeNameError(`the server listed ${JSON.stringify(entry.slice(0, 200))} under ${JSON.stringify(base)}, where it does not belong; nothing written for it`);
  }
  const rest = entry.slice(prefix.length);
  return landAs === '' ? rest : `${landAs}/${rest}`;
}
