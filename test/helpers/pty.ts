/** A command on a real pseudo-terminal (script(1) from util-linux): keys go in, the screen comes out. */
import { spawn } from 'node:child_process';
import { DEFAULT_CLI_TOKEN } from './transport-mode.js';

/** A command running on a pty. */
export interface PtyRun {
  /** Everything the terminal has shown so far (escape sequences included). */
  screen(): string;
  /** Types `keys` on the terminal ("\x03" is Ctrl-C: the line discipline signals the foreground group). */
  press(keys: string): void;
  /** Resolves once the screen matches `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The command's exit code (script -e passes it on); rejects after `timeoutMs`, killing it. */
  exit(timeoutMs?: number): Promise<number | null>;
}

/** Runs `command` (a shell command line) on a fresh pty of `columns` columns. */
export function runInPty(command: string, env: NodeJS.ProcessEnv = {}, columns = 120): PtyRun {
  const child = spawn('script', ['-qfec', `stty cols ${columns} rows 40; ${command}`, '/dev/null'], {
    env: { ...process.env, FTX_TOKEN: DEFAULT_CLI_TOKEN, SHELL: '/bin/bash', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString();
    for (const check of watchers) check();
  });
  child.stderr.on('data', (d: Buffer) => (screen += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    screen: () => screen,
    press: (keys) => child.stdin.write(keys),
    waitFor: (pattern, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const check = (): void => {
        const match = screen.match(pattern);
        if (!match) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(match);
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`the screen never showed ${pattern}:\n${JSON.stringify(screen.slice(-2000))}`));
      }, timeoutMs);
      watchers.add(check);
      check();
    }),
    exit: async (timeoutMs = 20_000) => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`still running after ${timeoutMs} ms:\n${JSON.stringify(screen.slice(-2000))}`));
        }, timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
