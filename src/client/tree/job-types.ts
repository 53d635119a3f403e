/** The vocabulary of a `put` run: the job, the files as reported, results, events, the summary. */
import type { StreamInput } from '../put/stream-input.js';
import type { StatusError } from '../../errors.js';
import type { PutReceipt } from '../put/file.js';
import type { WalkEntry } from './walk.js';

/** What to do with a name the server already has with other content. */
export type IfExists = 'fail' | 'overwrite' | 'skip' | 'rename';

/** Everything one `ftx put` run does. */
export interface UploadJob {
  sources: string[];
  remoteDir: string;
  exclude: string[];
  followSymlinks: boolean;
  ifExists: IfExists;
  /** Compare by md5 (the server answers from digests recorded at landing) instead of size + mtime. */
  checksum: boolean;
  /** Protocol chunk size; undefined: each kind's default (files 4096, streams 256 KiB). */
  chunkSize: number | undefined;
  resume: boolean;
  dryRun: boolean;
  /** Upload this stream (stdin, a command's output) under `name` instead of files; as in putStream. `from` says where it comes from (default stdin). */
  stream?: { input: StreamInput | (() => StreamInput); name: string; beforeEnd?: () => Promise<void>; from?: string };
}

/** A file as the reporter sees it. */
export interface JobFile {
  name: string;
  localPath: string;
  /** null for a stream. */
  size: number | null;
}

/** How a sent file ended: its receipt. */
export type FileResult = PutReceipt;

/** What the reporter is told. */
export interface UploadEvents {
  planned(files: JobFile[], bytes: number): void;
  started(file: JobFile): void;
  progressed(file: JobFile, done: number): void;
  sent(file: JobFile, result: FileResult): void;
  skipped(file: JobFile, reason: string): void;
  failed(file: JobFile, error: unknown): void;
  wouldSend(file: JobFile, how: string): void;
  note(message: string): void;
}

/** Counts of a finished run. */
export interface UploadSummary {
  sent: number;
  skipped: number;
  failed: number;
  bytes: number;
  seconds: number;
  /** With --dry-run: how many files (and directories) would be sent or created, and would fail. */
  dryRun?: { send: number; fail: number };
  /** The first per-file failure, for the exit code. */
  firstError?: unknown;
}

/** What to do with one walked file, from `check` and the --if-exists policy. */
export interface Decision {
  entry: WalkEntry;
  action: 'send' | 'skip' | 'fail';
  overwrite: boolean;
  rename: boolean;
  reason?: string;
  error?: StatusError;
}

