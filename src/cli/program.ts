/** The commander program: argv → plan → run; errors → one line and an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { FTX_VERSION } from '../version.js';
import { DEFAULT_PORT } from '../protocol/constants.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';
import type { PutCliOptions } from './put-command.js';
import type { ServeCliOptions } from './serve-command.js';

/** Builds the program; commands load their modules only when they run (fast --help/--version). */
export function buildProgram(io: CliIo): Command {
  const program = new Command('ftx')
    .description('Chunked, md5-verified, atomic file transfer over TCP.')
    .version(FTX_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
    });

  program
    .command('serve')
    .description('receive files into a directory')
    .argument('[dir]', 'directory to store files in', '.')
    .option('-H, --host <address>', 'address to listen on (default: 127.0.0.1 without a token, all interfaces with one)')
    .option('-p, --port <port>', `port to listen on, 0 for any free port (default: ${DEFAULT_PORT})`)
    .option('-t, --token <token>', 'require clients to prove this token (prefer --token-file or FTX_TOKEN)')
    .option('--token-file <path>', 'read the token from the first line of a file')
    .option('--max-size <size>', 'refuse files larger than this (e.g. 10G; K/M/G/T are powers of 1024)')
    .option('--idle-timeout <seconds>', 'drop a connection silent for this long (default: 120)')
    .option('--partial-ttl <hours>', 'remove kept partial uploads untouched for this long (default: 24)')
    .option('-q, --quiet', 'no log lines, errors only')
    .exitOverride()
    .action(async (dir: string, options: ServeCliOptions) => {
      const { planServe, runServe } = await import('./serve-command.js');
      await runServe(planServe(dir, options, io.env), io);
    });

  program
    .command('put')
    .description('upload files to an ftx server')
    .usage('[options] <file...> <host[:port]>')
    .argument('<file...>', 'files to upload, then the destination host[:port] ([::1]:7420 for IPv6)')
    .option('-d, --dir <remote-dir>', 'directory on the server, relative to the served directory')
    .option('-t, --token <token>', 'token the server requires (prefer --token-file or FTX_TOKEN)')
    .option('--token-file <path>', 'read the token from the first line of a file')
    .option('-f, --force', 'overwrite files that already exist on the server')
    .option('--chunk-size <bytes>', 'protocol chunk size (default: 4096)')
    .option('--connect-timeout <seconds>', 'give up connecting after this long (default: 10)')
    .option('--idle-timeout <seconds>', 'fail when the server is silent this long (default: 60)')
    .option('--retries <count>', 'reconnect and resume this many times after a lost connection (default: 5)')
    .option('--retry-wait <seconds>', 'first wait before a retry; doubles each time, with jitter (default: 1)')
    .option('--no-resume', 'always send whole files (ignore partials the server kept)')
    .addOption(new Option('--no-progress', 'no progress bar'))
    .option('-q, --quiet', 'print nothing but errors')
    .exitOverride()
    .action(async (args: string[], options: PutCliOptions) => {
      const { planPut, runPut } = await import('./put-command.js');
      await runPut(planPut(args, options, io.env, Boolean(io.stderr.isTTY)), io);
    });

  return program;
}

/** Runs the CLI on `argv` (without node and script) and resolves with the exit code. */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    io.stderr.write(`ftx: error: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
