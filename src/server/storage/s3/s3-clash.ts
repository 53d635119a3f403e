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
import { dirOf, listNameRange, type RangeListOptions } from './s3-range-list.js';

const conflict = (message: string): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);

/** The directories above `name` ("a", "a/b" for "a/b/c"). */
function ancestorsOf(name: string): string[] {
  const segments = name.split('/');
  return segments.slice(0, -1).map((_, i) => segments.slice(0, i + 1).join('/'));
}

/**
 * Throws 409 when a name above `name` is a file; checks them all at once. `isFile` is the lookup
 * (a HEAD of its own, or one shared by the commits asking at the same time: ClashChecks).
 */
export async function refuseFileAbove(name: string, isFile: (key: string) => Promise<boolean>): Promise<void> {
  const above = ancestorsOf(name);
  const files = await Promise.all(above.map(isFile));
  const file = above.find((_, i) => files[i]);
  if (file !== undefined) throw conflict(`${file} exists and is not a directory`);
}

/** True when `key` is an object (one HEAD). */
export const isObject = async (bucket: S3Bucket, key: string): Promise<boolean> => (await bucket.head(key)) !== null;

/** True when some key lies below `name` (it is a directory). */
export async function isDirectory(bucket: S3Bucket, name: string): Promise<boolean> {
  const page = await bucket.listPage(`${name}/`, { limit: 1, recursive: true });
  return page.objects.length > 0;
}

/** Throws 409 when `name` cannot become a file: a file above it, or keys below it. */
export async function refuseClash(bucket: S3Bucket, name: string): Promise<void> {
  const [, below] = await Promise.all([refuseFileAbove(name, (key) => isObject(bucket, key)), isDirectory(bucket, name)]);
  if (below) throw conflict(`${name} exists and is a directory`);
}

/** How many keys a shared LIST asks per page, and how many pages before asking name by name. */
export type ClashCheckOptions = RangeListOptions;

interface Asked { name: string; resolve: (directory: boolean) => void; reject: (error: unknown) => void }

/** The clash checks of one storage, shared by the commits that ask at the same time. */
export class ClashChecks {
  private readonly heads = new Map<string, Promise<boolean>>();
  private readonly waiting = new Map<string, Asked[]>();

  constructor(private readonly bucket: S3Bucket, private readonly options: ClashCheckOptions = {}) {}

  /** True when `key` is an object; asks made while its HEAD is in flight share it. */
  private isFile(key: string): Promise<boolean> {
    let head = this.heads.get(key);
    if (head === undefined) {
      head = isObject(this.bucket, key).finally(() => this.heads.delete(key));
      this.heads.set(key, head);
    }
    return head;
  }

  /** Throws 409 when a name above `name` is a file. */
  refuseFileAbove(name: string): Promise<void> {
    return refuseFileAbove(name, (key) => this.isFile(key));
  }

  /** True when some key lies below `name`; the names of one directory asked in one turn share a LIST. */
  isDirectory(name: string): Promise<boolean> {
    const dir = dirOf(name);
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
    const listed = await listNameRange(this.bucket, dir, asked.map((a) => a.name), this.options);
    // The names the listing did not reach, each asked once however many commits asked it.
    const lateNames = [...listed.unreached];
    const lateAnswers = await Promise.all(lateNames.map((name) => isDirectory(this.bucket, name)));
    const late = new Map(lateNames.map((name, i) => [name, lateAnswers[i] === true]));
    for (const a of asked) a.resolve(listed.directories.has(a.name) || late.get(a.name) === true);
  }
}
