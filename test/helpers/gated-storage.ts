/**
 * A Storage in front of a real one (a DiskStorage on a temp dir) that can hold an operation on a
 * name until the test lets it go: the server is then busy with a request at a moment the test
 * chooses, while it keeps reading what the peer sends. Everything else is passed through.
 */
import type { Readable } from 'node:stream';
import type {
  ByteRange, CheckQuery, CheckResult, ExpiryOptions, ListOptions, ListPage, Storage, StoredFile, Upload, UploadRequest,
} from '../../src/server/storage/storage.js';

/** An operation held: `entered` resolves when the server has called it, `release` lets it go on. */
export interface Hold {
  entered: Promise<void>;
  release: () => void;
}

/** Passes everything to `inner`; beginUpload and makeDirectory of a held name wait for its release. */
export class GatedStorage implements Storage {
  /** The calls seen, in order, as "beginUpload name" / "makeDirectory name". */
  readonly calls: string[] = [];
  private readonly holds = new Map<string, { enter: () => void; released: Promise<void> }>();

  constructor(private readonly inner: Storage) {}

  get location(): string {
    return this.inner.location;
  }

  get exclusive(): boolean {
    return this.inner.exclusive;
  }

  /** Holds the next beginUpload or makeDirectory of `name`. */
  hold(name: string): Hold {
    let enter!: () => void;
    let release!: () => void;
    const entered = new Promise<void>((resolve) => { enter = resolve; });
    const released = new Promise<void>((resolve) => { release = resolve; });
    this.holds.set(name, { enter, released });
    return { entered, release };
  }

  private async pass(operation: string, name: string): Promise<void> {
    this.calls.push(`${operation} ${name}`);
    const held = this.holds.get(name);
    if (!held) return;
    this.holds.delete(name);
    held.enter();
    await held.released;
  }

  async beginUpload(request: UploadRequest): Promise<Upload> {
    await this.pass('beginUpload', request.name);
    return this.inner.beginUpload(request);
  }

  async makeDirectory(name: string): Promise<boolean> {
    await this.pass('makeDirectory', name);
    return this.inner.makeDirectory(name);
  }

  freeSpace(name: string, needed: number): Promise<number> {
    return this.inner.freeSpace?.(name, needed) ?? Promise.resolve(Infinity);
  }

  check(queries: CheckQuery[]): Promise<CheckResult[]> {
    return this.inner.check(queries);
  }

  expirePartials(options: ExpiryOptions): Promise<number> {
    return this.inner.expirePartials(options);
  }

  stat(name: string): Promise<StoredFile | null> {
    return this.inner.stat(name);
  }

  read(name: string, range?: ByteRange): Promise<Readable | null> {
    return this.inner.read(name, range);
  }

  list(dir: string, options: ListOptions): Promise<ListPage | null> {
    return this.inner.list(dir, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
