/**
 * File-versus-directory clashes on a bucket, refused as the disk refuses them (409 `exists`): S3 has
 * keys, not directories, so "a" (an object) and "a/b" (a key below it) could both be stored. Before
 * an object lands under a name, no name above it may be an object (a file where a directory should
 * be) and no key may lie below it (the name is a directory: a marker "name/" or anything under it).
 * Checked when a large upload opens (before its bytes are sent) and again just before any object
 * becomes visible; two servers landing "a" and "a/b" within that last round trip are not excluded
 * (docs/s3-backend.md, "File or directory").
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
