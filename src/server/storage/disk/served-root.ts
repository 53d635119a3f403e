/**
 * Containment under the served root (Linux). Node has no openat(), but a path through
 * `/proc/self/fd/<fd>/<name>` is resolved from the directory that fd refers to, whatever has
 * happened to that directory's path since it was opened. So the root is opened once, and every
 * directory under it is reached by opening one component at a time with O_DIRECTORY|O_NOFOLLOW
 * through its parent's fd: a symlink is never followed, and a directory swapped for a symlink
 * after the walk does not redirect anything. Every create, link, rename, mkdir, rmdir and unlink
 * then names `/proc/self/fd/<dirfd>/<name>`. Nothing is cached across turns: each use walks again.
 * Before a file lands, the walk is repeated and must lead to the very directory held open
 * (dev/inode), else the landing is refused: a directory moved away while its file arrived is never
 * landed in. That second walk passed for a directory serves the other files landing there in the
 * same event-loop turn (a putmany batch: turn-cache.ts).
 */
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, rmdirSync, statSync, type BigIntStats } from 'node:fs';
import { join, resolve } from 'node:path';
import { StatusError, UsageError } from '../../../errors.js';
import { ERROR_CODE, STATUS } from '../../../protocol/constants.js';
import { TurnCache } from './turn-cache.js';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** Longest path the system calls accept (PATH_MAX, its NUL included). */
const PATH_MAX = 4096;

export const forbidden = (message: string): StatusError => new StatusError(STATUS.FORBIDDEN, ERROR_CODE.FORBIDDEN_PATH, message);
export const conflict = (message: string): StatusError => new StatusError(STATUS.CONFLICT, ERROR_CODE.EXISTS, message);

/** `name` in the directory open as `fd`, resolved from that directory wherever it now is. */
export function inDir(fd: number, name: string): string {
  return `/proc/self/fd/${fd}/${name}`;
}

/** True when `candidate` is `root` or inside it (both normalised: "a/../b" counts as "b"). */
export function isInside(root: string, candidate: string): boolean {
  const r = resolve(root);
  const c = resolve(candidate);
  return c === r || c.startsWith(r.endsWith('/') ? r : `${r}/`);
}

const identity = (info: BigIntStats): string => `${info.dev}:${info.ino}`;

/** The served root, open for as long as the server runs. */
export class ServedRoot {
  /** Identities (dev:ino) of the server's own directories: never entered through a client's name. */
  private readonly own = new Set<string>();
  /** Directory (as dirs.join('/')) → identity an OpenDir.verify() walk reached there in this turn. */
  readonly passedWalks = new TurnCache<string>();

  private constructor(readonly path: string, readonly fd: number, private readonly rootId: string) {}

  /** Opens the root (a real path). Needs Linux's /proc/self/fd; refuses to start without it. */
  static open(path: string): ServedRoot {
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECTORY);
    const viaProc = (() => {
      try {
        return identity(statSync(`/proc/self/fd/${fd}`, { bigint: true }));
      } catch {
        return undefined;
      }
    })();
    const rootId = identity(fstatSync(fd, { bigint: true }));
    if (viaProc !== rootId) {
      closeSync(fd);
      throw new UsageError('ftx serve needs Linux with /proc mounted (it reaches files through /proc/self/fd to stay inside the served directory)');
    }
    return new ServedRoot(path, fd, rootId);
  }

  /** Closes the root's fd (the server is stopping). */
  close(): void {
    closeSync(this.fd);
  }

  /** Marks a directory (by its fd) as the server's own: a walk that meets it is refused. */
  protect(fd: number): void {
    this.own.add(identity(fstatSync(fd, { bigint: true })));
  }

  /** Refuses a name whose full path the file system could not hold, before anything is created. */
  checkLength(filename: string): void {
    if (Buffer.byteLength(this.path) + 1 + Buffer.byteLength(filename) >= PATH_MAX) {
      throw forbidden(`${filename}: name too long for the server's filesystem (the full path would exceed ${PATH_MAX - 1} bytes)`);
    }
  }

  /**
   * Opens the directories `dirs` from the root, never following a symlink, down to the deepest one
   * that exists (the rest is `missing`). Throws 403 for a symlink, 409 for a non-directory.
   */
  walk(dirs: string[]): OpenDir {
    let fd = this.fd;
    let id: string | undefined = this.rootId;
    try {
      for (let i = 0; i < dirs.length; i++) {
        const next = this.enter(fd, dirs[i]!, dirs.slice(0, i + 1).join('/'));
        if (next === undefined) return new OpenDir(this, dirs, [fd], dirs.slice(i), id);
        if (fd !== this.fd) closeSync(fd);
        ({ fd, id } = next);
      }
      return new OpenDir(this, dirs, [fd], [], id);
    } catch (error) {
      if (fd !== this.fd) closeSync(fd);
      throw error;
    }
  }

  /** Opens directory `name` below `parentFd`; undefined when it does not exist. */
  openChild(parentFd: number, name: string, shown: string): number | undefined {
    return this.enter(parentFd, name, shown)?.fd;
  }

  /** openChild, with the directory's identity when it was read (to refuse the server's own). */
  private enter(parentFd: number, name: string, shown: string): { fd: number; id: string | undefined } | undefined {
    let fd: number;
    try {
      fd = openSync(inDir(parentFd, name), DIR_FLAGS);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      if (code !== 'ENOTDIR' && code !== 'ELOOP') throw error;
      if (lstatSync(inDir(parentFd, name), { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw forbidden(`${shown} is a symlink (the server never follows symlinks)`);
      }
      throw conflict(`${shown} exists and is not a directory`);
    }
    if (this.own.size === 0) return { fd, id: undefined };
    const id = identity(fstatSync(fd, { bigint: true }));
    if (this.own.has(id)) {
      closeSync(fd);
      throw forbidden(`${shown} is the server's own state directory`);
    }
    return { fd, id };
  }
}

/** What verify() found: the directory is where it was, or it was removed (a pruned tree). */
export type DirPlace = 'same' | 'removed';

/**
 * A directory under the root, held open (with the names still to create below it). Owns its fds:
 * close() once no operation through them is in flight (a closed fd number is soon reused).
 */
export class OpenDir {
  /** Names created by this OpenDir, outermost first, each with its parent's fd (`chain[i]`). */
  private created: boolean[] = [];
  private closed = false;

  /**
   * chain[0] is the deepest existing directory, chain[i + 1] the i-th created below it; `heldId` is
   * the identity of the deepest one open, when the walk read it.
   */
  constructor(
    private readonly root: ServedRoot, readonly dirs: string[], private chain: number[], private missing: string[],
    private heldId: string | undefined,
  ) {}

  /** The directory's path under the root as a client names it (absolute; symlinks never involved). */
  get path(): string {
    return join(this.root.path, ...this.dirs);
  }

  /** True while some directories of the path do not exist yet. */
  get incomplete(): boolean {
    return this.missing.length > this.chain.length - 1;
  }

  /** The fd of the deepest directory open now (the target once complete). */
  get fd(): number {
    return this.chain[this.chain.length - 1]!;
  }

  /** `name` inside this directory, through its fd. */
  at(name: string): string {
    if (this.incomplete) throw new Error('directory not created yet');
    return inDir(this.fd, name);
  }

  /** Creates the missing directories, outermost first; one created meanwhile by someone else is fine. */
  createMissing(): void {
    for (let i = this.chain.length - 1; i < this.missing.length; i++) {
      const name = this.missing[i]!;
      const parent = this.fd;
      let made = true;
      try {
        mkdirSync(inDir(parent, name));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        made = false;
      }
      const shown = this.dirs.slice(0, this.dirs.length - this.missing.length + i + 1).join('/');
      const fd = this.root.openChild(parent, name, shown);
      if (fd === undefined) throw Object.assign(new Error(`${shown} vanished while being created`), { code: 'ENOENT' });
      this.chain.push(fd);
      this.created.push(made);
      this.heldId = undefined;
    }
  }

  /** fsyncs (grouped by `sync`) the parent of each directory this OpenDir created. */
  async syncCreated(sync: (dir: string, via: string) => Promise<void>): Promise<void> {
    const base = this.dirs.length - this.missing.length;
    for (let i = 0; i < this.created.length; i++) {
      if (this.created[i]) await sync(join(this.root.path, ...this.dirs.slice(0, base + i)), `/proc/self/fd/${this.chain[i]}`).catch(() => undefined);
    }
  }

  /** Removes (if empty) the directories this OpenDir created, deepest first. */
  removeCreated(): void {
    for (let i = this.created.length - 1; i >= 0; i--) {
      if (!this.created[i]) continue;
      try {
        rmdirSync(inDir(this.chain[i]!, this.missing[i]!));
        this.root.passedWalks.clear();
      } catch {
        // not empty, or already gone: leave it
      }
    }
    this.created = this.created.map(() => false);
  }

  /**
   * Walks from the root again (or trusts a walk that reached this very directory in this turn): the
   * path must still lead to this very directory. Returns 'removed'
   * when this directory was deleted meanwhile (a pruned tree); throws 403 if it was moved or replaced.
   */
  verify(): DirPlace {
    const key = this.dirs.join('/');
    if (!this.incomplete && this.heldId !== undefined && this.root.passedWalks.get(key) === this.heldId) return 'same';
    const held = fstatSync(this.fd, { bigint: true });
    if (held.nlink === 0n) return 'removed';
    let now: OpenDir | undefined;
    try {
      now = this.root.walk(this.dirs);
      const reached = now.incomplete ? undefined : now.heldId ?? identity(fstatSync(now.fd, { bigint: true }));
      if (reached === identity(held)) {
        this.heldId = reached;
        this.root.passedWalks.set(key, reached);
        return 'same';
      }
    } catch (error) {
      if (!(error instanceof StatusError)) throw error;
    } finally {
      now?.close();
    }
    throw forbidden(`${this.dirs.join('/')} was moved or replaced while the upload was open; nothing was stored`);
  }

  /** Walks again from the root and creates what is missing (after verify() said 'removed'). */
  reopen(): void {
    const fresh = this.root.walk(this.dirs);
    this.close();
    this.closed = false;
    this.chain = fresh.chain;
    this.missing = fresh.missing;
    this.heldId = fresh.heldId;
    this.created = [];
    this.createMissing();
  }

  /** Closes the fds (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.chain) if (fd !== this.root.fd) closeSync(fd);
    this.chain = [this.root.fd];
  }
}

/**
 * Checks an existing target `name` in `dir` (never followed): a directory → 409; a file or a symlink
 * without overwrite → 409. With overwrite, a symlink is replaced by the new file, never written through.
 */
export function checkTarget(dir: OpenDir, name: string, filename: string, overwrite: boolean): void {
  if (dir.incomplete) return;
  const info = lstatSync(dir.at(name), { throwIfNoEntry: false });
  if (info === undefined) return;
  if (info.isDirectory()) throw conflict(`${filename} exists and is a directory`);
  if (!overwrite) throw conflict(`${filename} already exists (ask to overwrite with --force)`);
}

/** Throws 403 unless `path` (never followed) names the very file open as `handle` (not swapped since). */
export function assertSameFile(handle: { fd: number }, path: string): void {
  const named = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  if (named === undefined || identity(named) !== identity(fstatSync(handle.fd, { bigint: true }))) {
    throw forbidden('the data file was replaced while the upload was open; nothing was stored');
  }
}
