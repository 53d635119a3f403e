/**
 * Small files cut off by a broken connection may have landed anyway (their bodies arrived before
 * the break; PROTOCOL.md §9.8 says the server then lands them, and only then). Asked about again by
 * md5: "identical" means the server recorded exactly this content when it landed, so the file counts
 * as sent and verified; the others are sent again, with the flags they had.
 */
import { md5File } from '../../checksum.js';
import { statSync } from 'node:fs';
import type { ClientConnection } from '../connection.js';
import { checkFiles } from '../requests.js';
import type { SmallFile, SmallFileHandlers } from './batches.js';

/** Reports the cut-off files that landed; resolves with those to send again. */
export async function resendCutOff(link: ClientConnection, files: SmallFile[], handlers: SmallFileHandlers): Promise<SmallFile[]> {
  if (files.length === 0 || !link.supports('check')) return files;
  const known: { file: SmallFile; size: number; md5: string }[] = [];
  const again: SmallFile[] = [];
  for (const file of files) {
    try {
      const size = statSync(file.localPath).size;
      known.push({ file, size, md5: await md5File(file.localPath, size) });
    } catch {
      again.push(file); // unreadable now: sending it again reports that
    }
  }
  const answers = await checkFiles(link, known.map((k) => ({ filename: k.file.remoteName, size: k.size, mtime: k.file.mtime, md5: k.md5 })));
  known.forEach(({ file, size, md5 }, i) => {
    if (answers[i]!.state !== 'identical') return again.push(file);
    handlers.onResult({ file, receipt: { localPath: file.localPath, filename: file.remoteName, size, md5, seconds: 0, resumedFrom: 0, bytesSent: 0 } });
  });
  return again;
}
