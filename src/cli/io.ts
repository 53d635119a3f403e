/** The process streams the CLI writes to (injectable so tests can run the CLI in-process; the environment is process.env, read by commander). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
}

/** Lines gathered and written once per tick. */
export interface LineWriter {
  write(line: string): void;
  /** Writes what is gathered now (before other output, and at exit). */
  flush(): void;
}

/**
 * One write per tick instead of one per line: a server logging thousands of small files a second
 * spent more on its (synchronous, to a file or terminal) stderr writes than on landing them.
 */
export function lineWriter(stream: NodeJS.WritableStream): LineWriter {
  let pending: string[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const text = pending.join('');
    pending = [];
    stream.write(text);
  };
  process.once('exit', flush);
  return {
    write(line) {
      pending.push(`${line}\n`);
      if (pending.length === 1) setImmediate(flush);
    },
    flush,
  };
}
