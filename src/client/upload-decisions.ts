/** Deciding per file, from the server's `check` answers and the --if-exists policy. */
import { md5File } from '../checksum.js';
import { StatusError } from '../errors.js';
import { ERROR_CODE, STATUS } from '../protocol/constants.js';
import type { ReconnectingClient } from './put-with-retry.js';
import { checkFiles } from './requests.js';
import type { Decision, JobFile, UploadJob } from './job-types.js';
import type { WalkEntry } from './walk.js';

export const IDENTICAL = 'identical on the server';

export const asJobFile = (entry: WalkEntry): JobFile => ({ name: entry.remoteName, localPath: entry.localPath, size: entry.size });

/** Decides per file from the server's answers and the --if-exists policy. */
export async function decide(session: ReconnectingClient, files: WalkEntry[], job: UploadJob): Promise<Decision[]> {
  const link = (await session.get()).connection;
  // A server without `check` gets every file sent (and refuses existing names itself).
  if (!link.supports('check')) return files.map((entry) => ({ entry, action: 'send', overwrite: job.ifExists === 'overwrite', rename: false }));
  const answers = await checkFiles(link, files.map((f) => ({ filename: f.remoteName, size: f.size, mtime: f.mtime })));
  if (job.checksum) {
    // Content compare for names that exist with the same size: hash locally, ask again with md5s.
    const candidates = files.flatMap((_file, i) => (answers[i]!.state !== 'missing' && answers[i]!.state !== 'forbidden' ? [i] : []));
    const md5s = await Promise.all(candidates.map((i) => md5File(files[i]!.localPath, files[i]!.size)));
    const again = await checkFiles(link, candidates.map((i, k) => ({ filename: files[i]!.remoteName, size: files[i]!.size, mtime: files[i]!.mtime, md5: md5s[k]! })));
    candidates.forEach((i, k) => (answers[i] = again[k]!));
  }
  return files.map((entry, i): Decision => {
    const answer = answers[i]!;
    const base = { entry, overwrite: false, rename: false };
    if (answer.state === 'forbidden') {
      return { ...base, action: 'fail', error: new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, answer.message ?? 'forbidden path') };
    }
    if (answer.state === 'missing') return { ...base, action: 'send' };
    if (answer.state === 'identical') return { ...base, action: 'skip', reason: IDENTICAL };
    switch (job.ifExists) {
      case 'overwrite': return { ...base, action: 'send', overwrite: true };
      case 'rename': return { ...base, action: 'send', rename: true };
      case 'skip': return { ...base, action: 'skip', reason: 'exists on the server (--if-exists skip)' };
      default: return { ...base, action: 'fail', error: new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, `${entry.remoteName} exists on the server with other content (--if-exists overwrite|rename|skip)`) };
    }
  });
}

