/**
 * One delimited LIST of a directory's key range, shared by many names of that directory asked
 * together (a putmany batch's clash checks, a check request's names): from just after the smallest
 * name to past the largest "name/", in the store's key order (UTF-8 bytes, not JavaScript's UTF-16
 * code units). A name is an object when it comes back as a key, a directory when "name/" comes back
 * as a common prefix. The listing stops after a page budget (many foreign keys in the range); the
 * names it did not reach are reported so that the caller asks for them one by one.
 */
import type { S3Bucket } from './s3-bucket.js';

/** The store's key order (UTF-8 bytes). */
export const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Page size and page budget of a range listing. */
export interface RangeListOptions {
  pageSize?: number;
  maxPages?: number;
}

/** What a range listing saw. */
export interface RangeListing {
  /** Names listed as objects, with their size and unquoted ETag. */
  objects: Map<string, { size: number; etag: string }>;
  /** Names below which some key lies. */
  directories: Set<string>;
  /** Names the listing did not reach (the caller asks for them one by one). */
  unreached: Set<string>;
}

/** Lists the range of `names` (all directly in `dir`: "" or "a/b/"). */
export async function listNameRange(bucket: S3Bucket, dir: string, names: string[], options: RangeListOptions = {}): Promise<RangeListing> {
  const wanted = new Set(names);
  const last = names.map((n) => `${n}/`).sort(byteOrder).pop()!;
  const first = [...names].sort(byteOrder)[0]!;
  const objects = new Map<string, { size: number; etag: string }>();
  const directories = new Set<string>();
  let cursor: string | undefined;
  let passed = '';
  for (let page = 0; page < (options.maxPages ?? 2); page++) {
    const listed = await bucket.listPage(dir, {
      limit: options.pageSize ?? 1000, recursive: false, ...(cursor !== undefined ? { cursor } : { startAfter: first }),
    });
    for (const o of listed.objects) if (wanted.has(o.key)) objects.set(o.key, { size: o.size, etag: o.etag });
    for (const prefix of listed.prefixes) if (wanted.has(prefix.slice(0, -1))) directories.add(prefix.slice(0, -1));
    if (listed.next === undefined) return { objects, directories, unreached: new Set() };
    const tail = [...listed.objects.map((o) => o.key), ...listed.prefixes].sort(byteOrder).pop();
    if (tail !== undefined) passed = tail;
    if (byteOrder(passed, last) >= 0) return { objects, directories, unreached: new Set() };
    cursor = listed.next;
  }
  // Reached: "name/" (and so the name) sorts at or before the last entry listed.
  const unreached = names.filter((n) => !directories.has(n) && byteOrder(`${n}/`, passed) > 0);
  return { objects, directories, unreached: new Set(unreached) };
}

/** The directory part of a name ("" or "a/b/"). */
export const dirOf = (name: string): string => name.slice(0, name.lastIndexOf('/') + 1);
