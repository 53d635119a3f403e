/**
 * `ftx get` as a library call: list what was asked for, decide per file, create the directories,
 * fetch what is needed (get-run.ts), and say how it went. The connection is made by the caller's
 * `connect` (the same options as put: host, token, timeouts).
 */
import type { FtxClient } from './client.js';
import { decide, listTargets, type GetItem, type GetTargets } from './get-plan.js';
import { runGet, type GetEvents } from './get-run.js';
import { LocalRoot } from './local-landing.js';

/** A whole get. */
export interface GetJob extends GetTargets {
  /** The local directory everything lands below. */
  rootDir: string;
  dryRun: boolean;
}

/** What the reporter hears beyond the per-file events. */
export interface GetJobEvents extends GetEvents {
  planned(items: GetItem[], bytes: number): void;
  wouldGet(item: GetItem, action: string): void;
}

/** Counts of a finished get. */
export interface GetSummary {
  fetched: number;
  skipped: number;
  failed: number;
  bytes: number;
  seconds: number;
  /** With --dry-run: files that would be fetched, and would fail (also counted in `failed`). */
  dryRun?: { get: number; fail: number };
  firstError?: unknown;
}

/** Runs `job`; per-file failures are counted, a fatal one (connect, auth, protocol, retries spent) is thrown. */
export async function runGetJob(client: FtxClient, job: GetJob, events: GetJobEvents): Promise<GetSummary> {
  const started = Date.now();
  const summary: GetSummary = { fetched: 0, skipped: 0, failed: 0, bytes: 0, seconds: 0 };
  const counted: GetJobEvents = {
    ...events,
    fetched: (item, result) => { summary.fetched++; summary.bytes += result.size; events.fetched(item, result); },
    skipped: (item, reason) => { summary.skipped++; events.skipped(item, reason); },
    failed: (item, error) => { summary.failed++; summary.firstError ??= error; events.failed(item, error); },
  };
  {
    const listing = await listTargets(client, job);
    const root = new LocalRoot(job.rootDir);
    for (const { name, error } of listing.refused) counted.failed({ remote: name, segments: [name], size: 0, mtime: 0, md5: null }, error);
    const wanted: GetItem[] = [];
    for (const item of listing.files) {
      const decision = await decide(job.rootDir, item, job).catch((error: unknown) => ({ item, action: 'fail' as const, error }));
      if (decision.action === 'skip') counted.skipped(item, decision.reason);
      else if (decision.action === 'fail') counted.failed(item, decision.error);
      else wanted.push(item);
    }
    events.planned(wanted, wanted.reduce((n, i) => n + i.size, 0));
    if (job.dryRun) {
      for (const item of wanted) events.wouldGet(item, 'get');
      summary.dryRun = { get: wanted.length, fail: summary.failed };
      return { ...summary, seconds: (Date.now() - started) / 1000 };
    }
    for (const dir of listing.dirs) {
      await root.ensureDir(dir).catch((error: unknown) => counted.failed({ remote: dir.join('/'), segments: dir, size: 0, mtime: 0, md5: null }, error));
    }
    await runGet(client, wanted, { root, ifExists: job.ifExists, events: counted });
  }
  return { ...summary, seconds: (Date.now() - started) / 1000 };
}
