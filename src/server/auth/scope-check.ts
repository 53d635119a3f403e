/**
 * Scope checks of a request (docs/PROTOCOL.md §4.5), made before its handler reads or changes
 * anything: the action's scope, and `overwrite` for a put or a putmany entry that asks to replace.
 */
import { StatusError } from '../../errors.js';
import type { Request } from '../../protocol/messages.js';
import { ACTION_SCOPES, missingScopeCode, type Scope } from '../../protocol/scopes.js';
import { STATUS } from '../../protocol/constants.js';

function refusal(scope: Scope, what: string): StatusError {
  return new StatusError(STATUS.FORBIDDEN, missingScopeCode(scope), `this token lacks the "${scope}" scope needed to ${what}`);
}

function asksToOverwrite(request: Request): boolean {
  if (request.action === 'put') return request.overwrite === true;
  if (request.action === 'putmany' && Array.isArray(request.files)) {
    return request.files.some((f: unknown) => typeof f === 'object' && f !== null && (f as Record<string, unknown>).overwrite === true);
  }
  return false;
}

/** The 403 `needs_<scope>` refusal when `granted` does not allow `request`, else undefined. */
export function scopeRefusal(request: Request, granted: ReadonlySet<Scope>): StatusError | undefined {
  const needed = Object.hasOwn(ACTION_SCOPES, request.action) ? ACTION_SCOPES[request.action] : undefined;
  if (needed !== undefined && !needed.some((s) => granted.has(s))) return refusal(needed[0]!, request.action);
  if (asksToOverwrite(request) && !granted.has('overwrite')) return refusal('overwrite', 'replace a stored file');
  return undefined;
}
