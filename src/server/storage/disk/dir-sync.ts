/**
 * Group commit of directory fsyncs: many files landing in one directory at once share fsyncs. A
 * caller is released only by an fsync that started after its call, so its rename is covered.
 */
import { open } from 'node:fs/promises';

interface DirState {
  running?: Promise<void>;
  next?: Promise<void>;
}

/** fsync of one directory (makes the names created or removed in it durable). */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Coalesces directory fsyncs per directory. */
export class DirectorySyncer {
  private readonly dirs = new Map<string, DirState>();

  /**
   * Resolves once an fsync of `dir` that began after this call has completed. `via` is the path to
   * open it by (e.g. `/proc/self/fd/<fd>` of the caller's open directory), `dir` the grouping key;
   * the caller keeps `via` valid until this resolves.
   */
  sync(dir: string, via = dir): Promise<void> {
    let state = this.dirs.get(dir);
    if (!state) {
      state = {};
      this.dirs.set(dir, state);
    }
    if (!state.running) {
      state.running = this.run(dir, via, state);
      return state.running;
    }
    // One fsync is running (it may have started before our rename): join the one after it.
    state.next ??= state.running.catch(() => undefined).then(() => {
      state.next = undefined;
      state.running = this.run(dir, via, state);
      return state.running;
    });
    return state.next;
  }

  private run(dir: string, via: string, state: DirState): Promise<void> {
    return fsyncDirectory(via).finally(() => {
      if (state.running && !state.next) {
        state.running = undefined;
        this.dirs.delete(dir);
      }
    });
  }
}
