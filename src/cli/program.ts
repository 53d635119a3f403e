/** The commander program: argv → plan → run; errors → one line and an exit code. */
import { Command, CommanderError, Option } from 'commander';
import { FTX_VERSION } from '../version.js';
import { DEFAULT_RETRY_POLICY } from '../client/retry.js';
import { DEFAULT_CLIENT_IDLE_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS } from '../client/defaults.js';
import { DEFAULT_IDLE_TIMEOUT_MS as DEFAULT_SERVER_IDLE_TIMEOUT_MS, DEFAULT_PARTIAL_TTL_MS } from '../server/defaults.js';
import { DEFAULT_PORT } from '../protocol/constants.js';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_ADDRESS } from '../server/limits/admission.js';
import { DEFAULT_MAX_BUFFER_BYTES } from '../server/limits/body-budget.js';
import { describeError, EXIT, exitCodeFor } from './exit-codes.js';
import { exitCodesHelp, PROGRAM_EXAMPLES, PUT_EXAMPLES, SERVE_EXAMPLES } from './help-text.js';
import type { CliIo } from './io.js';
import {
  parseBufferSize, parseChunkSize, parseCount, parseDestinationOption, parseHeartbeat, parseHours, parseListenPort, parsePositiveCount, parseSeconds, parseSize, type TokenOptions,
} from './option-parsers.js';
import type { PutCliOptions } from './put-command.js';
import type { ServeCliOptions } from './serve-command.js';
import type { GetCliOptions } from './get-command.js';
import type { LsCliOptions } from './ls-command.js';
import type { VerifyCliOptions } from './verify-command.js';
import { addClientTlsOptions, addServeTlsOptions } from './tls-options.js';
import { addTokenCommand } from './token-command.js';

let exitCode: number = EXIT.OK;

const IF_EXISTS_POLICIES = ['fail', 'overwrite', 'skip', 'rename'];

/** An option whose value commander checks with `parse` (and may take from `env`). */
function checked(flags: string, description: string, parse: (text: string) => unknown, env?: string): Option {
  const option = new Option(flags, description).argParser(parse);
  return env ? option.env(env) : option;
}

/** --token and --token-file, also from FTX_TOKEN and FTX_TOKEN_FILE. */
function tokenOptions(command: Command, tokenHelp: string): Command {
  return command
    .addOption(new Option('-t, --token <token>', tokenHelp).env('FTX_TOKEN'))
    .addOption(new Option('--token-file <path>', 'read the token from the first line of a file').env('FTX_TOKEN_FILE'));
}

/**
 * `options` with only the token option that wins: --token, then --token-file, then FTX_TOKEN_FILE,
 * then FTX_TOKEN (an option given on the command line beats the environment).
 */
function withChosenToken<T extends TokenOptions>(options: T, command: Command): T {
  const { token, tokenFile } = options;
  const chosen: T = { ...options };
  delete chosen.token;
  delete chosen.tokenFile;
  if (token !== undefined && command.getOptionValueSource('token') === 'cli') return { ...chosen, token };
  if (tokenFile !== undefined) return { ...chosen, tokenFile };
  return token !== undefined ? { ...chosen, token } : chosen;
}

/**
 * Builds the program; commands load their modules only when they run (fast --help/--version).
 * `producer` is the command after "--" of `put` (see splitProducerCommand).
 */
export function buildProgram(io: CliIo, producer?: string[]): Command {
  const program = new Command('ftx')
    .description('Chunked, md5-verified, atomic file transfer over TCP.')
    .version(FTX_VERSION, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .addHelpText('after', `${PROGRAM_EXAMPLES}${exitCodesHelp()}`)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      // Commander's own complaints get ftx's one-line form: "ftx: error: unknown option '--x' (Did you mean --y?)".
      outputError: (text, write) => write(`ftx: ${text.trim().replace(/\s*\n\s*/g, ' ')}\n`),
    });
  addServeCommand(program, io);
  addPutCommand(program, io, producer);
  addGetCommand(program, io);
  addLsCommand(program, io);
  addVerifyCommand(program, io);
  addTokenCommand(program, io);
  return program;
}

/** `ftx serve [dir]`. */
function addServeCommand(program: Command, io: CliIo): void {
  const serve = program
    .command('serve')
    .description('receive files into a directory, or into an S3 bucket (s3://bucket[/prefix])')
    .argument('[dir]', 'directory to store files in, or s3://bucket[/prefix] (AWS_* variables and ~/.aws say where and as whom)', '.')
    .option('-H, --host <address>', 'address to listen on (default: 127.0.0.1 without a token, all interfaces with one)')
    .addOption(checked('-p, --port <port>', `port to listen on, 0 for any free port (default: ${DEFAULT_PORT})`, parseListenPort));
  tokenOptions(serve, 'require clients to prove this token (visible in ps: prefer --token-file)')
    .addOption(new Option('--tokens <file>', 'accept several tokens with scopes: one "LABEL SCOPES TOKEN" line each, file mode 0600 (README)').env('FTX_TOKENS_FILE'))
    .addOption(checked('--max-size <size>', 'refuse files larger than this (e.g. 10G; K/M/G/T are powers of 1024)', parseSize))
    .addOption(checked('--idle-timeout <seconds>', `drop a connection silent for this long (default: ${DEFAULT_SERVER_IDLE_TIMEOUT_MS / 1000}; with heartbeats: 3 heartbeats)`, parseSeconds))
    .addOption(checked('--heartbeat <seconds>', 'heartbeat interval offered to clients; one that agrees and goes silent for 3 of them is dropped (default: 5)', parseHeartbeat))
    .addOption(checked('--partial-ttl <hours>', `remove kept partial uploads untouched for this long (default: ${DEFAULT_PARTIAL_TTL_MS / 3600_000})`, parseHours))
    .addOption(checked('--max-connections <count>', `refuse connections beyond this many open at once (default: ${DEFAULT_MAX_CONNECTIONS})`, parsePositiveCount))
    .addOption(checked('--max-connections-per-address <count>', `refuse connections beyond this many open from one address (default: ${DEFAULT_MAX_CONNECTIONS_PER_ADDRESS})`, parsePositiveCount))
    .addOption(checked('--max-buffer <size>', `upload data held in memory by all connections together; beyond it clients wait (default: ${DEFAULT_MAX_BUFFER_BYTES / 2 ** 20}M)`, parseBufferSize))
    .addOption(checked('--hash-threads <count>', 'threads that md5 uploads: this many uploads at once are hashed in parallel (default: one per core)', parsePositiveCount))
    .addOption(checked('--verify-rate <MiB/s>', 'most MiB per second all scrubs (ftx verify) together read, so that uploads are not starved (default: 200)', parsePositiveCount))
    .option('-q, --quiet', 'no log lines, errors only')
    .option('--s3-endpoint <url>', 's3://: the store\'s URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile\'s endpoint_url, else AWS)')
    .option('--s3-region <region>', 's3://: region (default: AWS_REGION, the profile\'s region, else us-east-1)')
    .option('--s3-profile <name>', 's3://: profile in ~/.aws/config and credentials (default: AWS_PROFILE)')
    .addOption(new Option('--s3-addressing <style>', 's3://: bucket in the path or in the host name (default: auto = path with a custom endpoint, else virtual)')
      .choices(['auto', 'path', 'virtual']).env('FTX_S3_ADDRESSING'))
    .addOption(checked('--s3-timeout <seconds>', 's3://: deadline of one small store request; parts get 30 s + 1 s per MiB (default: 10)', parseSeconds));
  addServeTlsOptions(serve)
    .addHelpText('after', `${SERVE_EXAMPLES}${exitCodesHelp()}`)
    .exitOverride()
    .action(async (dir: string, options: ServeCliOptions, command: Command) => {
      const { planServe, runServe } = await import('./serve-command.js');
      await runServe(planServe(dir, withChosenToken(options, command)), io);
    });
}

/** `ftx put <source...> [host[:port]]` (and `-- <command>`). */
function addPutCommand(program: Command, io: CliIo, producer: string[] | undefined): void {
  const put = program
    .command('put')
    .description('upload files, directory trees, stdin or a command\'s output to an ftx server')
    .usage('[options] <source...> [host[:port]]\n       ftx put [options] --name <name> [host[:port]] -- <command> [args...]')
    .argument('[source...]', 'files, directories ("dir/" = its contents) or "-" for stdin, then the destination host[:port] unless --to or FTX_HOST gives it; after "--": a command whose output to upload, landed only if it exits 0')
    .addOption(checked('--to <host[:port]>', 'destination (default: the last argument)', parseDestinationOption, 'FTX_HOST'))
    .addOption(new Option('-d, --dir <remote-dir>', 'directory on the server, relative to the served directory').env('FTX_DIR'))
    .option('--name <name>', 'name on the server for stdin ("-") or a command\'s output ("-- <command>")');
  tokenOptions(put, 'token the server requires (visible in ps: prefer --token-file)')
    .addOption(new Option('--if-exists <policy>', 'when the server has the name with other content (identical files are always skipped)')
      .choices(IF_EXISTS_POLICIES).default('fail').env('FTX_IF_EXISTS'))
    .option('-f, --force', 'same as --if-exists overwrite')
    .option('--checksum', 'compare files by md5 instead of size and mtime')
    .option('--exclude <glob>', 'skip paths matching this glob (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--follow-symlinks', 'upload what symlinks point to (default: skip them with a warning)')
    .option('--dry-run', 'list what would be sent, skipped or refused; send nothing')
    .option('--json', 'NDJSON events on stdout (human output goes to stderr)')
    .addOption(checked('--chunk-size <bytes>', 'protocol chunk size, 512 to 16M (default: 4096; a stream: 256K)', parseChunkSize))
    .addOption(checked('--connect-timeout <seconds>', `give up connecting after this long (default: ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`, parseSeconds))
    .addOption(checked('--idle-timeout <seconds>', `fail when the server is silent this long (default: ${DEFAULT_CLIENT_IDLE_TIMEOUT_MS / 1000}; a server with heartbeats: 3 of its heartbeats)`, parseSeconds))
    .addOption(checked('--retries <count>', `reconnect and resume this many times after a lost connection (default: ${DEFAULT_RETRY_POLICY.retries})`, parseCount))
    .addOption(checked('--retry-wait <seconds>', `first wait before a retry; doubles each time, with jitter (default: ${DEFAULT_RETRY_POLICY.baseDelayMs / 1000})`, parseSeconds))
    .option('--no-resume', 'always send whole files (ignore partials the server kept)')
    .addOption(new Option('--no-progress', 'no progress bar'))
    .option('-q, --quiet', 'print nothing but errors');
  addClientTlsOptions(put)
    .addHelpText('after', `${PUT_EXAMPLES}${exitCodesHelp()}`)
    .exitOverride()
    .action(async (args: string[], options: PutCliOptions, command: Command) => {
      const { planPut, runPut } = await import('./put-command.js');
      exitCode = await runPut(planPut(args, withChosenToken(options, command), Boolean(io.stderr.isTTY), producer), io);
    });
}

/** `ftx get`: downloads, verified against the md5 recorded at landing. */
function addGetCommand(program: Command, io: CliIo): void {
  const get = program
    .command('get')
    .description('download files or directory trees from an ftx server, verified against the md5 recorded when they landed')
    .usage('[options] <host[:port]> <remote...> [local]')
    .argument('<args...>', 'the server, then remote files or directories ("dir/" = its contents, "." = everything), then the local file or directory (default "."; "-" = stdout, one file)');
  tokenOptions(get, 'token the server requires (visible in ps: prefer --token-file)')
    .addOption(new Option('--if-exists <policy>', 'when a local file has the name with other content (identical files are always skipped)')
      .choices(IF_EXISTS_POLICIES).default('fail').env('FTX_IF_EXISTS'))
    .option('-f, --force', 'same as --if-exists overwrite')
    .option('--checksum', 'compare local files by md5 instead of size and mtime')
    .option('--exclude <glob>', 'skip remote paths matching this glob (repeatable)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--dry-run', 'list what would be fetched, skipped or refused; write nothing')
    .option('--json', 'NDJSON events on stdout (human output goes to stderr)')
    .addOption(checked('--connect-timeout <seconds>', `give up connecting after this long (default: ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`, parseSeconds))
    .addOption(checked('--idle-timeout <seconds>', `fail when the server is silent this long (default: ${DEFAULT_CLIENT_IDLE_TIMEOUT_MS / 1000})`, parseSeconds))
    .addOption(checked('--retries <count>', `reconnect and resume this many times after a lost connection (default: ${DEFAULT_RETRY_POLICY.retries})`, parseCount))
    .addOption(checked('--retry-wait <seconds>', `first wait before a retry; doubles each time (default: ${DEFAULT_RETRY_POLICY.baseDelayMs / 1000})`, parseSeconds))
    .addOption(new Option('--no-progress', 'no progress bar'))
    .option('-q, --quiet', 'print nothing but errors');
  addClientTlsOptions(get)
    .addHelpText('after', exitCodesHelp())
    .exitOverride()
    .action(async (args: string[], options: GetCliOptions, command: Command) => {
      const { planGet, runGetCommand } = await import('./get-command.js');
      exitCode = await runGetCommand(planGet(args, withChosenToken(options, command), Boolean(io.stderr.isTTY)), io);
    });
}

/** `ftx ls`: a remote listing, page by page. */
function addLsCommand(program: Command, io: CliIo): void {
  const ls = program
    .command('ls')
    .description('list names, sizes, mtimes and recorded md5s on an ftx server')
    .usage('[options] <host[:port]> [remote]')
    .argument('<args...>', 'the server, then a remote directory or file (default: everything)')
    .option('-r, --recursive', 'also everything below subdirectories')
    .option('--json', 'one JSON object per entry and line');
  tokenOptions(ls, 'token the server requires (visible in ps: prefer --token-file)')
    .addOption(checked('--connect-timeout <seconds>', `give up connecting after this long (default: ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`, parseSeconds));
  addClientTlsOptions(ls)
    .exitOverride()
    .action(async (args: string[], options: LsCliOptions, command: Command) => {
      const { runLs } = await import('./ls-command.js');
      exitCode = await runLs(args, withChosenToken(options, command), io);
    });
}

/** `ftx verify`: a scrub, on the server or in a local served directory. */
function addVerifyCommand(program: Command, io: CliIo): void {
  const verify = program
    .command('verify')
    .description('scrub: re-read stored files and compare each with the md5 recorded when it landed (on a server, or in a local served directory)')
    .usage('[options] <host[:port] | dir> [path]')
    .argument('<args...>', 'a server, or a local served directory (an argument with a "/", or "."), then a file or directory in it (default: everything)')
    .option('--json', 'one JSON object per file and a summary')
    .option('-q, --quiet', 'print only problems (corrupt, missing) and their summary')
    .option('--forget-missing', 'local directory only, with no ftx serve running on it: drop the records of files found missing (removed on purpose), so later scrubs no longer report them');
  tokenOptions(verify, 'token the server requires (visible in ps: prefer --token-file)')
    .addOption(checked('--connect-timeout <seconds>', `give up connecting after this long (default: ${DEFAULT_CONNECT_TIMEOUT_MS / 1000})`, parseSeconds));
  addClientTlsOptions(verify)
    .exitOverride()
    .action(async (args: string[], options: VerifyCliOptions, command: Command) => {
      const { runVerify } = await import('./verify-command.js');
      exitCode = await runVerify(args, withChosenToken(options, command), io);
    });
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
      // Exit code 0: --help, `ftx help`, --version. Anything else, a bare `ftx` included (help on stderr), is a usage error.
      return error.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    io.stderr.write(`ftx: error: ${describeError(error)}\n`);
    return exitCodeFor(error);
  }
}
