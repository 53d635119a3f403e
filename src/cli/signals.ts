/**
 * SIGINT and SIGTERM during `ftx put`: the run stops at once, on a terminal exactly as without one
 * (README, "Exit codes": 130 and 143). Nothing is committed after the signal: uploads still open are
 * cut off (the server keeps a large file's partial for resume and discards a stream).
 */
import { InterruptedError } from '../errors.js';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** Calls `onSignal` with an InterruptedError on the first SIGINT or SIGTERM; returns the release. */
export function trapInterrupts(onSignal: (error: InterruptedError) => void): () => void {
  const handlers = SIGNALS.map((signal) => {
    const handler = (): void => onSignal(new InterruptedError(signal));
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

/**
 * Ends the process by the signal itself once ftx has cleaned up: the handlers are released and the
 * signal raised again, so the parent sees "killed by SIGINT" (a shell reports 130/143, and bash
 * running ftx in a script stops too, as it does for any program killed by Ctrl-C: a plain exit
 * with 130 would make bash's cooperative-exit rule carry on with the script's next line).
 */
export function exitBySignal(signal: NodeJS.Signals, code: number, release: () => void): void {
  process.exitCode = code;
  release();
  process.kill(process.pid, signal);
}

/**
 * Resolves after the event loop has polled once more. Ctrl-C on a terminal signals the whole
 * foreground group at once: ftx's SIGINT is generated before the producer dies and closes the pipe,
 * so when ftx reads the end of its input the signal is already pending. libuv handles signal
 * callbacks after the other I/O of a poll phase, or in the next one when the signal's byte was
 * written just after the poll gathered the end of input; two check-phase turns span a full poll
 * phase, so a pending signal's handler has run before a stream is committed.
 */
export function afterPendingSignals(): Promise<void> {
  return new Promise((resolve) => setImmediate(() => setImmediate(resolve)));
}
