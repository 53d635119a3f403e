/**
 * `check` on a bucket: each name answered from its object's metadata (size, ftx-md5, ftx-mtime).
 * Names of one directory asked together are first looked up in one delimited LIST of their key
 * range (s3-range-list.ts): a name the listing shows absent is "missing" without a HEAD, which is the
 * common answer (a fresh upload); a name it shows present, or did not reach, is HEADed as before.
 */
import { splitSafeFilename } from '../../uploads/names.js';
import type { CheckQuery, CheckResult, StoredFile } from '../storage.js';
import type { S3Bucket } from './s3-bucket.js';
import { dirOf, listNameRange } from './s3-range-list.js';

const CHECK_CONCURRENCY = 16;
/** Fewer names than this in a directory are HEADed directly. */
const LIST_FROM = 4;

/** Answers a check request; `stat` reads one object's metadata. */
export async function checkS3(bucket: S3Bucket, queries: CheckQuery[], stat: (name: string) => Promise<StoredFile | null>): Promise<CheckResult[]> {
  const names = queries.map((q) => clientName(q.filename));
  const missing = await listedMissing(bucket, names.filter((n): n is string => typeof n === 'string'));
  const results: CheckResult[] = new Array(queries.length);
  const asks: number[] = [];
  names.forEach((name, i) => {
    if (typeof name !== 'string') results[i] = { state: 'forbidden', message: name.message };
    else if (missing.has(name)) results[i] = { state: 'missing' };
    else asks.push(i);
  });
  for (let at = 0; at < asks.length; at += CHECK_CONCURRENCY) {
    await Promise.all(asks.slice(at, at + CHECK_CONCURRENCY).map(async (i) => {
      results[i] = compare(queries[i]!, await stat(names[i] as string));
    }));
  }
  return results;
}

/** With an md5, by content whatever the client's mtime (docs/PROTOCOL.md §6.8). */
function compare(query: CheckQuery, file: StoredFile | null): CheckResult {
  if (file === null) return { state: 'missing' };
  const same = file.size === query.size && (query.md5 === undefined ? file.mtime === query.mtime : file.md5 === query.md5);
  return { state: same ? 'identical' : 'different' };
}

/** The names a range listing of their directory shows absent. */
async function listedMissing(bucket: S3Bucket, names: string[]): Promise<Set<string>> {
  const byDir = new Map<string, string[]>();
  for (const name of new Set(names)) byDir.set(dirOf(name), [...(byDir.get(dirOf(name)) ?? []), name]);
  const missing = new Set<string>();
  for (const [dir, group] of byDir) {
    if (group.length < LIST_FROM) continue;
    const listed = await listNameRange(bucket, dir, group);
    for (const name of group) if (!listed.objects.has(name) && !listed.unreached.has(name)) missing.add(name);
  }
  return missing;
}

function clientName(filename: string): string | Error {
  try {
    return splitSafeFilename(filename).join('/');
  } catch (error) {
    return error as Error;
  }
}
