/**
 * A command on a real terminal emulator: tmux, on its own server socket, with a pane of a given
 * size. What the pane shows (and keeps in its scrollback) is what a user would see.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TEST_STATE_HOME } from './cli.js';
import { DEFAULT_CLI_TOKEN } from './transport-mode.js';

const run = promisify(execFile);

/** A command running in a tmux pane. */
export interface TmuxRun {
  /** The pane's rows as shown, scrollback included; `joined` merges rows the terminal wrapped. */
  capture(options?: { joined?: boolean }): Promise<string>;
  /** Only the visible rows (no scrollback), row by row. */
  visible(): Promise<string[]>;
  /** Changes the pane's width (and height), as a user dragging the window would. */
  resize(columns: number, rows?: number): Promise<void>;
  /** Resolves with the capture once it matches `pattern`; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** The visible rows every `intervalMs` until the command ended, and its exit status (bounded by `timeoutMs`). */
  frames(intervalMs?: number, timeoutMs?: number): Promise<{ frames: string[][]; code: number }>;
  /** The command's exit status once it ended (the pane stays for capture); rejects after `timeoutMs`. */
  exit(timeoutMs?: number): Promise<number>;
  /** Kills the tmux server (always call, in `finally`). */
  close(): Promise<void>;
}

/** Runs `command` (a shell command line) in a fresh `columns`×`rows` tmux pane with `env` set. */
export async function runInTmux(command: string, columns: number, rows = 24, env: Record<string, string> = {}): Promise<TmuxRun> {
  const socket = `ftx-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  const conf = join(tmpdir(), `${socket}.conf`);
  // No status line (the pane is the whole window), a long scrollback, the pane kept after exit.
  writeFileSync(conf, 'set -g status off\nset -g history-limit 50000\nset -g remain-on-exit on\n');
  const tmux = (...args: string[]): Promise<string> => run('tmux', ['-L', socket, '-f', conf, ...args]).then((r) => r.stdout);
  const exports = Object.entries({ FTX_TOKEN: DEFAULT_CLI_TOKEN, XDG_STATE_HOME: TEST_STATE_HOME, ...env }).map(([k, v]) => `export ${k}='${v}';`).join(' ');
  // tmux's #{pane_dead_status} is sometimes left empty: the shell writes the status to a file instead.
  const statusFile = join(tmpdir(), `${socket}.status`);
  await tmux('new-session', '-d', '-s', 'ftx', '-x', String(columns), '-y', String(rows), `${exports} ${command}; echo $? > ${statusFile}`);
  // tmux's own "Pane is dead" line (remain-on-exit) is not the command's output.
  const capture = async (options: { joined?: boolean } = {}): Promise<string> =>
    (await tmux('capture-pane', '-p', '-t', 'ftx', '-S', '-', ...(options.joined ? ['-J'] : []))).replace(/^Pane is dead.*\n/m, '');
  const until = async <T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms:\n${await capture()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const visible = async (): Promise<string[]> => (await tmux('capture-pane', '-p', '-t', 'ftx')).replace(/^Pane is dead.*\n?/m, '').replace(/\n$/, '').split('\n');
  /** The exit status once the pane is dead (its output all read by tmux) and the status written. */
  const status = async (): Promise<number | undefined> => {
    if ((await tmux('display-message', '-p', '-t', 'ftx', '#{pane_dead}')).trim() !== '1') return undefined;
    const text = ((): string => {
      try {
        return readFileSync(statusFile, 'utf8');
      } catch {
        return '';
      }
    })();
    return text.endsWith('\n') ? Number(text) : undefined;
  };
  return {
    capture,
    visible,
    frames: async (intervalMs = 100, timeoutMs = 60_000) => {
      const frames: string[][] = [];
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const code = await status();
        frames.push(await visible());
        if (code !== undefined) return { frames, code };
        if (Date.now() > deadline) throw new Error(`the command did not end within ${timeoutMs} ms:\n${await capture()}`);
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    },
    resize: async (width, height = rows) => {
      await tmux('resize-window', '-t', 'ftx', '-x', String(width), '-y', String(height));
    },
    waitFor: (pattern, timeoutMs = 30_000) => until(`the pane never showed ${pattern}`, timeoutMs, async () => {
      const screen = await capture({ joined: true });
      return pattern.test(screen) ? screen : undefined;
    }),
    exit: (timeoutMs = 60_000) => until('the command did not end', timeoutMs, status),
    close: async () => {
      await tmux('kill-server').catch(() => undefined);
      rmSync(conf, { force: true });
      rmSync(statusFile, { force: true });
    },
  };
}
