/**
 * The client id a run presents in its hello (docs/PROTOCOL.md §4.4): the same for every connection of
 * a run and for a new run of the same job, so that the server lets either take over what a dead
 * connection of it still holds; unknown to anyone else, so that no other client can. It is an HMAC
 * of the job (destination, sources, remote names) under a random secret kept in the user's state
 * directory (`$XDG_STATE_HOME/ftx/client-secret`, else `~/.local/state/ftx/`, mode 0600).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

const SECRET_FILE = 'client-secret';

/** The user's secret: read, or created once; a random one for this process if the state cannot be written. */
function clientSecret(env: NodeJS.ProcessEnv): Buffer {
  const dir = env.XDG_STATE_HOME ? join(env.XDG_STATE_HOME, 'ftx') : join(homedir(), '.local', 'state', 'ftx');
  const path = join(dir, SECRET_FILE);
  try {
    const text = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(text)) return Buffer.from(text, 'hex');
  } catch {
    // none yet
  }
  const secret = randomBytes(32);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // wx: two runs starting at once keep the first one's secret.
    writeFileSync(path, `${secret.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    try {
      const text = readFileSync(path, 'utf8').trim();
      if (/^[0-9a-f]{64}$/.test(text)) return Buffer.from(text, 'hex');
    } catch {
      // not writable either: this process only
    }
    return secret;
  }
}

/** The client id of a job described by `parts` (32 hex digits). */
export function clientIdFor(parts: unknown[], env: NodeJS.ProcessEnv): string {
  return createHmac('sha256', clientSecret(env)).update(JSON.stringify(parts)).digest('hex').slice(0, 32);
}
