/**
 * cli-progress, loaded on first use: runs without a terminal (cron jobs, pipes, --quiet, --json)
 * draw no bars and so never pay for loading it (~20 ms of a ~150 ms start-up).
 */
import { createRequire } from 'node:module';
import type * as CliProgress from 'cli-progress';

export type { CliProgress };

let loaded: typeof CliProgress | undefined;

/** The cli-progress module (CommonJS, so it can be loaded synchronously when a bar is first drawn). */
export function cliProgress(): typeof CliProgress {
  loaded ??= createRequire(import.meta.url)('cli-progress') as typeof CliProgress;
  return loaded;
}
