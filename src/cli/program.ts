/** The commander program: argv → plan → run; errors → one line and an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { FTX_VERSION } from '../version.js';
import { DEFAULT_PORT } from '../protocol/constants.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';
import type { CliIo } from './io.js';
import type { PutCliOptions } from './put-command.js';
import type { ServeCliOptions } from './serve-command.js';

let exitCode: number = EXIT.OK;

/**
 * Builds the program; commands load their modules only when they run (fast --help/--version).
 * `producer` is the command after "--" of `put` (see splitProducerCommand).
 */
export function buildProgram(io: CliIo, producer?: string[]): Command {
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
    .description('upload files, directory trees, stdin or a command\'s output to an ftx server')
    .usage('[options] <source...> [host[:port]]\n       ftx put [options] --name <name> [host[:port]] -- <command> [args...]')
    .argument('[source...]', 'files, directories ("dir/" = its contents) or "-" for stdin, then the destination host[:port] unless --to or FTX_HOST gives it; after "--": a command whose output to upload, landed only if it exits 0')
    .option('--to <host[:port]>', 'destination (default: FTX_HOST, else the last argument)')
    .option('-d, --dir <remote-dir>', 'directory on the server, relative to the served directory (or FTX_DIR)')
    .option('--name <name>', 'name on the server for stdin ("-") or a command\'s output ("-- <command>")')
    .option('-t, --token <token>', 'token the server requires (prefer --token-file, FTX_TOKEN_FILE or FTX_TOKEN)')
    .option('--token-file <path>', 'read the token from the first line of a file')
    .option('--if-exists <policy>', 'when the server has the name with other content: fail, overwrite, skip or rename (default: fail, or FTX_IF_EXISTS); identical files are always skipped')
    .option('-f, --force', 'same as --if-exists overwrite')
    .option('--checksum', 'compare files by md5 instead of size and mtime')
    .option('--exclude <glob>', 'skip paths matching this glob (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--follow-symlinks', 'upload what symlinks point to (default: skip them with a warning)')
    .option('--dry-run', 'list what would be sent, skipped or refused; send nothing')
    .option('--json', 'NDJSON events on stdout (human output goes to stderr)')
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
      exitCode = await runPut(planPut(args, options, io.env, Boolean(io.stderr.isTTY), producer), io);
    });

  return program;
}

/** `put … -- COMMAND [ARGS...]`: what follows the first "--" of `put` is the producer command, not sources. */
export function splitProducerCommand(argv: string[]): { argv: string[]; producer?: string[] } {
  const at = argv.indexOf('--');
  return argv[0] !== 'put' || at < 0 ? { argv } : { argv: argv.slice(0, at), producer: argv.slice(at + 1) };
}

/** Runs the CLI on `argv` (without node and script) and resolves with the exit code. */
export async function main(commandLine: string[], io: CliIo): Promise<number> {
  const { argv, producer } = splitProducerCommand(commandLine);
  const program = buildProgram(io, producer);
  exitCode = EXIT.OK;
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return EXIT.OK;
      return EXIT.USAGE;
    }
    io.stderr.write(`ftx: error: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
