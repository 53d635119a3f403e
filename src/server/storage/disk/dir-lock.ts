/**
 * One server per directory: an exclusive flock(2) on the served directory itself (its own
 * descriptor, so removing or replacing `.ftx-state` while it runs does not lose the lock);
 * `<root>/.ftx-state/lock` only tells the next one who holds it. Two servers on one
 * directory would write the same partials and each hand out receipts for what it hashed.
 *
 * Why this way: the lock must go when the process goes, however it goes (SIGKILL, OOM, power), so
 * no lock file with a pid that a crash leaves behind. Node has no flock(2) and ftx has no native
 * code, so util-linux `flock(1)` is run once, on a descriptor it inherits from us: it locks the
 * open file description it shares with this process and exits at once. The lock belongs to that
 * description, so it lasts while our descriptor is open and the kernel drops it when we exit. (An
 * abstract unix socket named after the directory would also be released by the kernel, but it is
 * per network namespace, Linux only, and any local user could take the name first.) flock works
 * the same through any path to the directory, and on NFS (as an fcntl lock).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectoryInUseError } from '../../../errors.js';

/** A held lock. */
export interface DirectoryLock {
  /** False when flock(1) is not installed: nothing stops a second server. */
  readonly exclusive: boolean;
  release(): Promise<void>;
}

type FlockOutcome = 'locked' | 'held' | 'no-flock';

/** Runs `flock -x -n 3` on `fd`: locked, held by another, or flock(1) missing. */
function flockDescriptor(fd: number): Promise<FlockOutcome> {
  return new Promise((resolve, reject) => {
    const child = spawn('flock', ['-x', '-n', '3'], { stdio: ['ignore', 'ignore', 'pipe', fd] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve('no-flock') : reject(error)));
    child.once('close', (code) => {
      if (code === 0) resolve('locked');
      else if (code === 1) resolve('held');
      else if (code !== null) reject(new Error(`flock exited with ${code}: ${stderr.trim()}`));
    });
  });
}

/** Takes the lock of the served directory `root` (its state directory must exist), or throws DirectoryInUseError. */
export async function lockDirectory(root: string, stateDir: string): Promise<DirectoryLock> {
  const rootHandle: FileHandle = await open(root, constants.O_RDONLY | constants.O_DIRECTORY);
  let outcome: FlockOutcome;
  try {
    outcome = await flockDescriptor(rootHandle.fd);
  } catch (error) {
    await rootHandle.close();
    throw error;
  }
  // Who holds it, for the refusal of the next one (informative only: the lock is the flock).
  // Never through a symlink planted in the state directory.
  const pidFile = await open(join(stateDir, 'lock'), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600)
    .catch(() => undefined);
  if (outcome === 'held') {
    const pid = /^\d+/.exec((await pidFile?.readFile('utf8').catch(() => '')) ?? '')?.[0];
    await Promise.all([rootHandle.close(), pidFile?.close()]);
    throw new DirectoryInUseError(`${root} is already served by another ftx serve${pid ? ` (pid ${pid})` : ''}; stop it first`);
  }
  if (outcome === 'locked' && pidFile) {
    await pidFile.truncate(0);
    await pidFile.write(`${process.pid}\n`, 0);
  }
  await pidFile?.close();
  return { exclusive: outcome === 'locked', release: () => rootHandle.close() };
}
