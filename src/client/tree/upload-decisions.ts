/** Deciding per file, from the server's `check` answers and the --if-exists policy. */
import { md5File } from '../../checksum.js';
import { StatusError } from '../../errors.js';
import { ERROR_CODE, STATUS } from '../../protocol/constants.js';
import type { FtxClient } from '../client.js';
import type { Decision, JobFile, UploadJob } from './job-types.js';
import type { WalkEntry } from './walk.js';

/** Why a file the server has with the same content is skipped. */
export const IDENTICAL = 'identical on the server';
/** Why a file that exists on the server is skipped under --if-exists skip. */
export const SKIPPED_EXISTING = 'exists on the server (--if-exists skip)';

/**
 * Under --if-exists skip, a 409 `exists` for a name `check` had found missing (another client landed
 * it meanwhile) is what `check` would now answer "different" for: the file is skipped, not failed.
 */
export function isSkippedByPolicy(job: Pick<UploadJob, 'ifExists'>, error: unknown): boolean {
  return job.ifExists === 'skip' && error instanceof StatusError && error.code === ERROR_CODE.EXISTS;
}

/** A walked file as the reporter sees it. */
export const asJobFile = (entry: WalkEntry): JobFile => ({ name: entry.remoteName, localPath: entry.localPath, size: entry.size });

/** Decides per file from the server's answers and the --if-exists policy. */
export async function decide(client: FtxClient, files: WalkEntry[], job: UploadJob): Promise<Decision[]> {
  // A server without `check` gets every file sent (and refuses existing names itself).
  if (!(await client.supports('check'))) return files.map((entry) => ({ entry, action: 'send', overwrite: job.ifExists === 'overwrite', rename: job.ifExists === 'rename' }));
  const answers = await client.check(files.map((f) => ({ filename: f.remoteName, size: f.size, mtime: f.mtime })));
  if (job.checksum) {
    // Content compare for names that exist with the same size: hash locally, ask again with md5s.
    const candidates = files.flatMap((_file, i) => (answers[i]!.state !== 'missing' && answers[i]!.state !== 'forbidden' ? [i] : []));
    const md5s = await Promise.all(candidates.map((i) => md5File(files[i]!.localPath, files[i]!.size)));
    const again = await client.check(candidates.map((i, k) => ({ filename: files[i]!.remoteName, size: files[i]!.size, mtime: files[i]!.mtime, md5: md5s[k]! })));
    candidates.forEach((i, k) => (answers[i] = again[k]!));
  }
  return files.map((entry, i): Decision => {
    const answer = answers[i]!;
    // The policy travels with every put, "missing" ones too: another client may land the name
    // between our check and our put, and the server applies the flags at landing time.
    const base = { entry, overwrite: job.ifExists === 'overwrite', rename: job.ifExists === 'rename' };
    if (answer.state === 'forbidden') {
      return { ...base, action: 'fail', error: new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, answer.message ?? 'forbidden path') };
    }
    if (answer.state === 'missing') return { ...base, action: 'send' };
    if (answer.state === 'identical') return { ...base, action: 'skip', reason: IDENTICAL };
    switch (job.ifExists) {
      case 'overwrite':
      case 'rename': return { ...base, action: 'send' };
      case 'skip': return { ...base, action: 'skip', reason: SKIPPED_EXISTING };
      default: return { ...base, action: 'fail', error: new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${entry.remoteName} exists on the server with other content (--if-exists overwrite|rename|skip)`) };
    }
  });
}

