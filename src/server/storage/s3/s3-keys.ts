/**
 * Where ftx keeps things in a bucket (below the served prefix): landed files under their names; the
 * server's own state under `.ftx-state/`, a name clients cannot address (the name rules refuse it).
 * One state key per target name: the first 32 hex digits of sha256(name), as on disk.
 */
import { createHash } from 'node:crypto';

/** The reserved top-level name. */
export const STATE_DIR = '.ftx-state/';

/** The state key of a target name. */
export function nameKey(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 32);
}

/** The resumable-upload state object of a name. */
export function partialKey(name: string): string {
  return `${STATE_DIR}partials/${nameKey(name)}.json`;
}

/** The lease object that guards uploads of a name across servers. */
export function leaseKey(name: string): string {
  return `${STATE_DIR}locks/${nameKey(name)}`;
}

/** Prefix of all partial states (for the sweeper). */
export const PARTIALS_PREFIX = `${STATE_DIR}partials/`;

/** True for keys that belong to ftx itself, never listed or checked as files. */
export function isStateKey(key: string): boolean {
  return key === STATE_DIR.slice(0, -1) || key.startsWith(STATE_DIR);
}
