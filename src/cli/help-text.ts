/** Text that --help shows after the options: examples and the exit codes (from the one table). */
import { EXIT, EXIT_MEANINGS } from './exit-codes.js';

/** The exit-code table, one line per code. */
export function exitCodesHelp(): string {
  const lines = (Object.keys(EXIT) as Array<keyof typeof EXIT>).map((key) => `  ${String(EXIT[key]).padStart(3)}  ${EXIT_MEANINGS[key]}`);
  return `\nExit codes:\n${lines.join('\n')}\n`;
}

/** "Examples:" and each example's comment line above its command line. */
function examples(list: Array<[comment: string, command: string]>): string {
  return `\nExamples:\n${list.map(([comment, command]) => `  # ${comment}\n  ${command}`).join('\n')}\n`;
}

/** Examples of `ftx put`. */
export const PUT_EXAMPLES = examples([
  ['one file, to backup-host:7420', 'ftx put ./db.dump backup-host'],
  ['trees: land as laptop/photos/..., laptop/docs/...', 'ftx put ./photos ./docs backup-host --dir laptop'],
  ['"dir/": its contents land directly in www/', 'ftx put ./site/ backup-host:7000 --dir www'],
  ["a command's output, landed only if the command exits 0 (for dumps in cron)", 'ftx put --name db.sql backup-host -- pg_dump mydb'],
  ['stdin', 'tar c ./etc | ftx put - backup-host --name etc.tar'],
  ['from cron, the destination and token from the environment, NDJSON on stdout', 'FTX_HOST=backup-host FTX_TOKEN_FILE=/etc/ftx.token ftx put /var/backups --json'],
]);

/** Examples of `ftx serve`. */
export const SERVE_EXAMPLES = examples([
  ['loopback only, no token', 'ftx serve ./backups'],
  ['every interface, token required', 'FTX_TOKEN_FILE=/etc/ftx.token ftx serve /srv/backups'],
]);

/** Examples shown by `ftx --help`. */
export const PROGRAM_EXAMPLES = examples([
  ['receive into ./backups', 'ftx serve ./backups'],
  ['send a file', 'ftx put ./db.dump backup-host'],
  ['all of put\'s options', 'ftx put --help'],
]);
