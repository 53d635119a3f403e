/**
 * Token scopes (docs/PROTOCOL.md §4.5): what a token lets its holder do, and the stable code of the
 * 403 refusal that names a missing scope. Pure: no I/O.
 */

/** Every scope, in the order they are documented. */
export const SCOPES = ['write', 'overwrite', 'read', 'verify'] as const;

/** One scope: write = put/check/mkdir/putmany without replacing; overwrite = replace; read = get/list; verify = scrub. */
export type Scope = (typeof SCOPES)[number];

/** Actions of the read side, announced in the hello's `actions` by a server that implements them. */
export const READ_ACTIONS = ['get', 'list', 'verify'] as const;

/**
 * The scopes of which an action needs one (hello and end need none; an overwrite flag also needs
 * `overwrite`). The first is the one a refusal names.
 */
export const ACTION_SCOPES: Readonly<Record<string, readonly Scope[]>> = {
  put: ['write'], mkdir: ['write'], putmany: ['write'], check: ['write', 'read'],
  get: ['read'], list: ['read'], verify: ['verify'],
};

/** The code of the 403 refusal for a missing scope: `needs_write`, `needs_overwrite`, `needs_read`, `needs_verify`. */
export function missingScopeCode(scope: Scope): string {
  return `needs_${scope}`;
}

/** True for a known scope name. */
export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}
