/**
 * File-versus-directory clashes on a bucket, refused as the disk refuses them (409 `exists`): S3 has
 * keys, not directories, so "a" (an object) and "a/b" (a key below it) could both be stored. Before
 * an object lands under a name, no name above it may be an object (a file where a directory should
 * be) and no key may lie below it (the name is a directory: a marker "name/" or anything under it).
 * Checked when a large upload opens (before its bytes are sent) and again just before any object
 * becomes visible.
 *
 * Small files land many at a time (putmany), so their checks are shared (ClashChecks): a HEAD of a
 * name above is sent once for every commit that asks while it is in flight, and the "anything below
 * the name?" question of every commit asked in the same turn of the event loop for one directory is
 * one delimited LIST of the key range the names span. Nothing is cached beyond that: every answer
 * was read from the store after (LIST) or at most one round trip before (HEAD) the commit asked. Two
 * servers landing "a" and "a/b" within that window are not excluded (docs/s3-backend.md, "File or
 * directory").
 */
import { StatusError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import type { S3Bucket } from './s3-bucket.js';

const conflict = (message: string): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);

/** The directories above `name` ("a", "a/b" for "a/b/c"). */
function ancestorsOf(name: string): string[] {
  const segments = name.split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}

/** Throws 409 when a name above `name` is a file; checks them all at once. */
export async function refuseFileAbove(bucket: S3Bucket, name: string): Promise<void> {
  const above = ancestorsOf(name);
  const heads = await Promise.all(above.map((dir) => bucket.head(dir)));
  const file = above.find((_, i) => heads[i] !== null);
  if (file !== undefined) throw conflict(`${file} exists and is not a directory`);
}

/** True when some key lies below `name` (it is a directory). */
export async function isDirectory(bucket: S3Bucket, name: string): Promise<boolean> {
  const page = await bucket.listPage(`${name}/`, { limit: 1, recursive: true });
  return page.objects.length > 0;
}

/** Throws 409 when `name` cannot become a file: a file above it, or keys below it. */
export async function refuseClash(bucket: S3Bucket, name: string): Promise<void> {
  const [, below] = await Promise.all([refuseFileAbove(bucket, name), isDirectory(bucket, name)]);
  if (below) throw conflict(`${name} exists and is a directory`);
}

/** The store's key order (UTF-8 bytes), which is not JavaScript's (UTF-16 code units). */
const byteOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** How many keys a shared LIST asks per page, and how many pages before asking name by name. */
export interface ClashCheckOptions {
  pageSize?: number;
  maxPages?: number;
}

interface Asked { name: string; resolve: (directory: boolean) => void; reject: (error: unknown) => void }

/** The clash checks of one storage, shared by the commits that ask at the same time. */
export class ClashChecks {
  private readonly heads = new Map<string, Promise<boolean>>();
  private readonly waiting = new Map<string, Asked[]>();
  private readonly pageSize: number;
  private readonly maxPages: number;

  constructor(private readonly bucket: S3Bucket, options: ClashCheckOptions = {}) {
    this.pageSize = options.pageSize ?? 1000;
    this.maxPages = options.maxPages ?? 2;
  }

  /** True when `key` is an object; asks made while its HEAD is in flight share it. */
  private isFile(key: string): Promise<boolean> {
    let head = this.heads.get(key);
    if (head === undefined) {
      head = this.bucket.head(key).then((h) => h !== null).finally(() => this.heads.delete(key));
      this.heads.set(key, head);
    }
    return head;
  }

  /** Throws 409 when a name above `name` is a file. */
  async refuseFileAbove(name: string): Promise<void> {
    const above = ancestorsOf(name);
    const files = await Promise.all(above.map((dir) => this.isFile(dir)));
    const file = above.find((_, i) => files[i]);
    if (file !== undefined) throw conflict(`${file} exists and is not a directory`);
  }

  /** True when some key lies below `name`; the names of one directory asked in one turn share a LIST. */
  isDirectory(name: string): Promise<boolean> {
    const dir = name.slice(0, name.lastIndexOf('/') + 1);
    return new Promise((resolve, reject) => {
      const group = this.waiting.get(dir);
      if (group !== undefined) {
        group.push({ name, resolve, reject });
        return;
      }
      this.waiting.set(dir, [{ name, resolve, reject }]);
      setImmediate(() => {
        const asked = this.waiting.get(dir) ?? [];
        this.waiting.delete(dir);
        this.answer(dir, asked).catch((error: unknown) => { for (const a of asked) a.reject(error); });
      });
    });
  }

  /** Answers every name of `dir` asked together. */
  private async answer(dir: string, asked: Asked[]): Promise<void> {
    if (asked.length === 1) {
      asked[0]!.resolve(await isDirectory(this.bucket, asked[0]!.name));
      return;
    }
    const { found, passed } = await this.listRange(dir, asked.map((a) => a.name));
    const late = asked.filter((a) => !found.has(a.name) && byteOrder(`${a.name}/`, passed) > 0);
    const lateAnswers = await Promise.all(late.map((a) => isDirectory(this.bucket, a.name)));
    for (const a of asked) a.resolve(found.has(a.name) || lateAnswers[late.indexOf(a)] === true);
  }

  /**
   * One delimited LIST of `dir` from just after the smallest name to past the largest "name/": a
   * name is a directory when "name/" comes back as a common prefix. Stops after maxPages (many
   * foreign keys in the range); `passed` is the last key or prefix the listing covered.
   */
  private async listRange(dir: string, names: string[]): Promise<{ found: Set<string>; passed: string }> {
    const wanted = new Set(names.map((n) => `${n}/`));
    const sorted = [...wanted].sort(byteOrder);
    const last = sorted[sorted.length - 1]!;
    const first = [...names].sort(byteOrder)[0]!;
    const found = new Set<string>();
    let cursor: string | undefined;
    let passed = '';
    for (let page = 0; page < this.maxPages; page++) {
      const listed = await this.bucket.listPage(dir, {
        limit: this.pageSize, recursive: false, ...(cursor !== undefined ? { cursor } : { startAfter: first }),
      });
      for (const prefix of listed.prefixes) if (wanted.has(prefix)) found.add(prefix.slice(0, -1));
      const tail = [...listed.objects.map((o) => o.key), ...listed.prefixes].sort(byteOrder).pop();
      if (listed.next === undefined) return { found, passed: last };
      if (tail !== undefined) passed = tail;
      if (byteOrder(passed, last) >= 0) return { found, passed };
      cursor = listed.next;
    }
    return { found, passed };
  }
}
