/**
 * The server's own state directory `<root>/.ftx-state` (and its `partials/`), held open and reached
 * only through its fds, so no client name and no symlink ever leads into it. Before each use the
 * name `.ftx-state` is looked at again (never followed; a look that passed serves the rest of the
 * event-loop turn: turn-cache.ts): removed while the server runs, it is created anew; replaced by
 * anything that is not the directory the server made, it is refused.
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, type BigIntStats } from 'node:fs';
import { StatusError, UsageError } from '../../../errors.js';
import { ERROR_CODE, RESERVED_PREFIX, STATUS } from '../../../protocol/constants.js';
import { inDir, type ServedRoot } from './served-root.js';
import { TurnCache } from './turn-cache.js';

/** Directory under the root that holds the server's own state (partials, digest index). */
export const STATE_DIR = `${RESERVED_PREFIX}state`;
const PARTIALS = 'partials';
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** A replaced directory's fds stay open this long: a state operation may still be using them. */
const RETIRED_CLOSE_MS = 10 * 60 * 1000;

const same = (a: BigIntStats | undefined, b: BigIntStats): boolean => a !== undefined && a.dev === b.dev && a.ino === b.ino;

interface Opened {
  state: number;
  partials: number;
  stateInfo: BigIntStats;
  partialsInfo: BigIntStats;
}

/** `<root>/.ftx-state`, created if missing. */
export class StateDir {
  /** Replaced fds, closed a while later (or at close()). */
  private readonly retired = new Map<Opened, NodeJS.Timeout>();
  /** The fds whose names were checked in this turn. */
  private readonly checked = new TurnCache<Opened>();

  private constructor(private readonly root: ServedRoot, private opened: Opened) {}

  /** Opens (creating if needed) the state directory of `root`. */
  static open(root: ServedRoot): StateDir {
    return new StateDir(root, StateDir.create(root));
  }

  /** The state directory, through its fd (checked now, recreated if it was removed). */
  get path(): string {
    return `/proc/self/fd/${this.current().state}`;
  }

  /** Its `partials/` subdirectory, through its fd. */
  get partials(): string {
    return `/proc/self/fd/${this.current().partials}`;
  }

  private current(): Opened {
    const { opened, root } = this;
    if (this.checked.get(STATE_DIR) === opened) return opened;
    const state = lstatSync(inDir(root.fd, STATE_DIR), { bigint: true, throwIfNoEntry: false });
    const partials = state && lstatSync(inDir(opened.state, PARTIALS), { bigint: true, throwIfNoEntry: false });
    if (same(state, opened.stateInfo) && same(partials, opened.partialsInfo)) {
      this.checked.set(STATE_DIR, opened);
      return opened;
    }
    if (state !== undefined && !same(state, opened.stateInfo)) {
      throw new StatusError(STATUS.INTERNAL, ERROR_CODE.INTERNAL,
        `the server's state directory ${STATE_DIR} was replaced by something the server did not create; ` +
        'remove it and the server makes a new one');
    }
    // Removed (all of it, or its partials/): make it again; the old fds may still be in use a moment.
    this.opened = StateDir.create(root);
    this.retired.set(opened, setTimeout(() => this.closeRetired(opened), RETIRED_CLOSE_MS).unref());
    return this.opened;
  }

  /** Closes its fds (the server is stopping: no state operation runs any more). */
  close(): void {
    for (const opened of this.retired.keys()) this.closeRetired(opened);
    closeSync(this.opened.state);
    closeSync(this.opened.partials);
  }

  private closeRetired(opened: Opened): void {
    clearTimeout(this.retired.get(opened));
    this.retired.delete(opened);
    closeSync(opened.state);
    closeSync(opened.partials);
  }

  private static create(root: ServedRoot): Opened {
    const state = StateDir.openOrMake(root.fd, STATE_DIR);
    const partials = StateDir.openOrMake(state, PARTIALS);
    root.protect(state);
    root.protect(partials);
    return { state, partials, stateInfo: fstatSync(state, { bigint: true }), partialsInfo: fstatSync(partials, { bigint: true }) };
  }

  private static openOrMake(parent: number, name: string): number {
    try {
      mkdirSync(inDir(parent, name), 0o700);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    try {
      return openSync(inDir(parent, name), DIR_FLAGS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(`${name} in the served directory is ${code === 'ENOTDIR' || code === 'ELOOP' ? 'a symlink or not a directory' : `unusable (${code})`}: ` +
        'it is the server\'s own state directory; remove it and start again');
    }
  }
}
