/**
 * What a listing reads ahead of the pages it is asked for. The list handler asks for a few entries
 * at a time (as many as fit in a frame at the worst name length: often 1 to 7), so each storage page
 * LISTing its own few keys and HEADing its files one small batch after another made a 3,000-object
 * `ftx ls` some 1,200 LISTs and 3,000 HEADs in lockstep batches. Here one LIST asks for a whole store
 * page (1,000 keys), and the pages that continue from a key inside it are served from it; the HEADs
 * that give files their mode, mtime and md5 are started ahead of the reader, a bounded number at once.
 *
 * Nothing here is needed by another server: cursors stay store positions (a key), so a continuation
 * that reaches another server, or comes after a window expired, LISTs from that key. A listing
 * without a cursor always LISTs afresh; what a window holds is at most WINDOW_TTL_MS old.
 */
import type { HeadInfo, S3Bucket } from './s3-bucket.js';

/** Keys one LIST asks for (the store's own maximum). */
const MAX_KEYS = 1000;
/** HEADs in flight at once for listings, all windows together. */
const HEAD_CONCURRENCY = 32;
/** Files HEADed ahead of the last entry handed out. */
const READ_AHEAD = 64;
/** How long a window may serve continuations. */
const WINDOW_TTL_MS = 15_000;
/** Windows kept (listings in progress at once). */
const MAX_WINDOWS = 8;

/** One key of a LIST page: an object, or (delimited) a common prefix ending in "/". */
export interface ListedItem {
  key: string;
  prefix: boolean;
  size: number;
  lastModified: number;
  head?: Promise<HeadInfo | null>;
}

/** The items after a position, and whether the store has more after them. */
export interface ListRun {
  items: ListedItem[];
  more: boolean;
  /** Starts the HEADs of the files after `item` (read-ahead). */
  readAhead(item: ListedItem | undefined): void;
}

interface Window {
  scope: string;
  from: string | undefined;
  items: ListedItem[];
  index: Map<string, number>;
  truncated: boolean;
  at: number;
}

/** The LIST pages and HEADs of the listings of one bucket. */
export class ListWindows {
  private windows: Window[] = [];
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly bucket: S3Bucket) {}

  /**
   * The items of `prefix` (delimited unless `recursive`) after the key `after` (from the start when
   * undefined), from a window when `continued` and one holds that position, else from a new LIST.
   */
  async run(prefix: string, recursive: boolean, after: string | undefined, continued: boolean): Promise<ListRun> {
    const scope = `${recursive ? 'r' : 'f'}:${prefix}`;
    const now = Date.now();
    this.windows = this.windows.filter((w) => now - w.at < WINDOW_TTL_MS);
    let window = continued ? this.windows.find((w) => w.scope === scope && positionIn(w, after) !== undefined) : undefined;
    if (window === undefined || (positionIn(window, after) === window.items.length && window.truncated)) {
      window = await this.list(scope, prefix, recursive, after);
    }
    const start = positionIn(window, after) ?? 0;
    const items = window.items.slice(start);
    return { items, more: window.truncated, readAhead: (item) => this.readAhead(window, item) };
  }

  /** The facts HEAD gives of a listed file (null when it is gone); started now if not read ahead. */
  head(item: ListedItem): Promise<HeadInfo | null> {
    item.head ??= this.limited(() => this.bucket.head(item.key));
    return item.head;
  }

  private async list(scope: string, prefix: string, recursive: boolean, after: string | undefined): Promise<Window> {
    const page = await this.bucket.listPage(prefix, { limit: MAX_KEYS, recursive, ...(after !== undefined ? { startAfter: after } : {}) });
    const items: ListedItem[] = [
      ...page.objects.map((o) => ({ key: o.key, prefix: false, size: o.size, lastModified: o.lastModified })),
      ...page.prefixes.map((p) => ({ key: p, prefix: true, size: 0, lastModified: 0 })),
    ].sort((x, y) => Buffer.compare(Buffer.from(x.key), Buffer.from(y.key)))
      // After a common prefix, the store lists that prefix again (its keys sort after it).
      .filter((item) => after === undefined || Buffer.compare(Buffer.from(item.key), Buffer.from(after)) > 0);
    const window: Window = {
      scope, from: after, items, index: new Map(items.map((item, i) => [item.key, i])), truncated: page.next !== undefined, at: Date.now(),
    };
    this.windows = [window, ...this.windows.filter((w) => w.scope !== scope || w.from !== after)].slice(0, MAX_WINDOWS);
    return window;
  }

  private readAhead(window: Window, item: ListedItem | undefined): void {
    let i = item === undefined ? 0 : (window.index.get(item.key) ?? window.items.length) + 1;
    for (let started = 0; i < window.items.length && started < READ_AHEAD; i++) {
      const next = window.items[i]!;
      if (next.prefix || next.key.endsWith('/')) continue;
      void this.head(next).catch(() => undefined);
      started += 1;
    }
  }

  /** Runs `call` when fewer than HEAD_CONCURRENCY listing HEADs are in flight. */
  private async limited<T>(call: () => Promise<T>): Promise<T> {
    // A slot freed is handed to the next waiter as it is (active unchanged), so none is taken twice.
    if (this.active >= HEAD_CONCURRENCY) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.active += 1;
    try {
      return await call();
    } finally {
      const next = this.queue.shift();
      if (next !== undefined) next();
      else this.active -= 1;
    }
  }
}

/** Where the items after `after` start in a window, or undefined when it does not hold that position. */
function positionIn(window: Window, after: string | undefined): number | undefined {
  if (after === window.from) return 0;
  if (after === undefined) return undefined;
  const at = window.index.get(after);
  return at === undefined ? undefined : at + 1;
}
