/**
 * At start, before listening: settles what a crash left in the landing window of a resumable put
 * (docs/PROTOCOL.md §9.5). A kept partial never shares its inode with a visible file afterwards:
 *
 * - the state recorded a landing and the final name holds that inode: it landed. The data name
 *   (a second name of the landed file if the crash came before its unlink) and the state go; the
 *   digest line with the upload id is written if the crash came before it, so the client's retry
 *   is told the file is there;
 * - it recorded a landing that did not happen (the final name does not hold that inode) and the
 *   data file is still that inode with one name: an ordinary kept partial again;
 * - anything else whose data file has more than one name (landed under a numbered name, an older
 *   ftx, a hard link made by hand) is dropped: only its name is unlinked, never its content;
 * - a small file whose worker died between its link and its unlink left its temp name as a second
 *   name of the landed file: the digest line written before the link names it, and it goes.
 */
import { lstat, realpath, unlink } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DigestIndex } from '../digest-index.js';
import type { LandingIntent, PartialState, PartialStore } from '../resume/partials.js';
import { isInside } from '../served-root.js';

const sameInode = (info: BigIntStats | undefined, intent: LandingIntent): boolean =>
  info !== undefined && info.isFile() && String(info.dev) === intent.dev && String(info.ino) === intent.ino;

const lstatOrNone = (path: string): Promise<BigIntStats | undefined> => lstat(path, { bigint: true }).catch(() => undefined);

/** Where a partial's file lands: its own directory, the last segment of its filename. */
function finalPathOf(state: PartialState): string {
  return join(dirname(state.data), state.filename.slice(state.filename.lastIndexOf('/') + 1));
}

/** Settles every kept partial; returns how many were found landed. */
export async function settleLandings(partials: PartialStore, digests: DigestIndex): Promise<number> {
  let landed = 0;
  for (const state of await partials.loadAll()) {
    const data = await lstatOrNone(state.data);
    const intent = state.landing;
    if (intent === undefined) {
      if (data !== undefined && data.nlink > 1n) await partials.remove(state);
      continue;
    }
    const final = await lstatOrNone(finalPathOf(state));
    if (final !== undefined && sameInode(final, intent)) {
      if (digests.lookup(state.filename, Number(final.size), Number(final.mtimeMs), final.ino) !== intent.md5) {
        digests.record(state.filename, {
          size: state.size, mtime: intent.mtime, md5: intent.md5, ...(intent.uploadId !== undefined ? { uploadId: intent.uploadId } : {}),
        });
      }
      await partials.remove(state);
      landed++;
    } else if (data !== undefined && data.nlink === 1n && sameInode(data, intent)) {
      delete state.landing;
      await partials.save(state);
    } else {
      await partials.remove(state);
    }
  }
  await digests.flushed();
  return landed;
}

/** Unlinks the temp names that small-file landings cut off by a crash left as second names of their files. */
export async function removeLeftTempNames(root: string, partials: PartialStore, digests: DigestIndex): Promise<number> {
  let removed = 0;
  for (const [filename, entry] of digests.unconfirmedLandings()) {
    const final = join(root, filename);
    const temp = partials.dataPathFor(dirname(final), filename, false);
    const info = await lstatOrNone(temp);
    if (!info?.isFile() || info.nlink < 2n || String(info.ino) !== entry.ino) continue;
    // Never outside the root, not even through a directory swapped for a symlink.
    const dir = await realpath(dirname(temp)).catch(() => undefined);
    if (dir === undefined || !isInside(root, dir)) continue;
    await unlink(join(dir, temp.slice(temp.lastIndexOf('/') + 1))).then(() => removed++, () => undefined);
  }
  return removed;
}
