/**
 * The producer of `ftx put --name NAME -- COMMAND [ARGS...]`: ftx runs it, its stdout is the
 * stream, its stderr and stdin are ftx's own. Only an exit status of 0 lets the upload commit.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { ProducerError } from '../errors.js';

/** A running producer command. */
export interface Producer {
  /** What it writes to stdout. */
  output: Readable;
  /** Resolves when it exited 0; rejects with ProducerError when it could not start, failed or was killed. */
  succeeded(): Promise<void>;
  /** Passes `signal` on to it while it runs (ftx was interrupted, or the upload failed). */
  stop(signal: NodeJS.Signals): void;
}

/** Starts `command` (file and arguments, no shell). */
export function startProducer(command: string[]): Producer {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, args, { stdio: ['inherit', 'pipe', 'inherit'] });
  const outcome = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(new ProducerError(command, { exitCode: null, signal: null, startError: error.code ?? error.message }));
    });
    child.once('exit', (exitCode, signal) => {
      if (exitCode === 0) resolve();
      else reject(new ProducerError(command, { exitCode, signal }));
    });
  });
  outcome.catch(() => undefined);
  return {
    output: child.stdout,
    succeeded: () => outcome,
    stop(signal) {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill(signal);
    },
  };
}
