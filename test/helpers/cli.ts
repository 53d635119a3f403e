/** Running the built `ftx` binary as a user would: real processes, real sockets. */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir } from './server.js';
import { DEFAULT_CLI_TOKEN, serveArgsForMode, serveTokenEnv } from './transport-mode.js';

/** Where the CLI keeps its client secret in tests (not the user's ~/.local/state). */
export const TEST_STATE_HOME = join(tmpdir(), 'ftx-test-state');

/** Path of the built CLI (npm test builds before running vitest). */
export const FTX_BIN = fileURLToPath(new URL('../../dist/cli/bin.js', import.meta.url));

/** Outcome of one CLI run. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `ftx args...` to completion (bounded by `timeoutMs`). */
export function runFtx(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
  return runCommand(process.execPath, [FTX_BIN, ...args], env, timeoutMs);
}

/** The environment of every CLI process a test starts: the mode's token and the test state directory, then `env`. */
export function cliEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, FTX_TOKEN: DEFAULT_CLI_TOKEN, XDG_STATE_HOME: TEST_STATE_HOME, ...env };
}

/**
 * Starts `ftx args...` in the background with the environment runFtx gives (so that it holds the
 * test token over TLS), for tests that signal, pipe into or kill the client themselves.
 */
export function spawnFtx(args: string[], options: { env?: NodeJS.ProcessEnv; stdio?: StdioOptions } = {}): ChildProcess {
  return spawn(process.execPath, [FTX_BIN, ...args], { env: cliEnv(options.env), stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'] });
}

/** Runs any command to completion, collecting its output. */
export function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out: ${args.join(' ')}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A spawned `ftx serve`; `port` parsed from its start-up line. */
export interface ServeProcess {
  child: ChildProcess;
  port: number;
  /** Everything it wrote to stderr so far. */
  log: () => string;
  /** Sends a signal and resolves with the exit code. */
  stop: (signal?: NodeJS.Signals) => Promise<number | null>;
}

/**
 * Starts `ftx serve <args>` (add --port 0) and waits for its "serving … on host:port" line.
 * `wrapper` runs it under another command (e.g. `strace ... `), which gets `node bin.js serve ...`.
 */
export function spawnServe(args: string[], env: NodeJS.ProcessEnv = {}, wrapper: string[] = []): Promise<ServeProcess> {
  return new Promise((resolve, reject) => {
    const command = [...wrapper, process.execPath, FTX_BIN, 'serve', ...serveArgsForMode(args)];
    const child = spawn(command[0]!, command.slice(1), {
      env: { ...process.env, ...serveTokenEnv(args), ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${log}`));
    }, 10_000);
    child.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      const match = /serving .* on (?:\[[^\]]+\]|[^\s]+):(\d+) /.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve({
          child,
          port: Number(match[1]),
          log: () => log,
          stop: (signal = 'SIGTERM') => {
            if (child.exitCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${log}`));
    });
  });
}

/** A spawned `ftx serve` on `<temp dir>/root`, with the temp dir for source files beside it. */
export interface ServedDir {
  tmp: { dir: string; cleanup: () => Promise<void> };
  root: string;
  serve: ServeProcess;
}

/** Creates a temp dir with an empty `root/` and starts `ftx serve` on it (port 0). */
export async function startServedDir(prefix: string): Promise<ServedDir> {
  const tmp = await makeTempDir(prefix);
  const root = join(tmp.dir, 'root');
  await mkdir(root);
  return { tmp, root, serve: await spawnServe([root, '--port', '0']) };
}

/** Stops the server and removes the temp dir (either may be missing if start-up failed). */
export async function stopServedDir(served: Partial<ServedDir>): Promise<void> {
  await served.serve?.stop();
  await served.tmp?.cleanup();
}
