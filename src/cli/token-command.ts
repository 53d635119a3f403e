/** `ftx token …`: token housekeeping. `ftx token new` prints a fresh token (README "Security"). */
import type { Command } from 'commander';
import { generateToken } from '../protocol/tokens.js';
import type { CliIo } from './io.js';

/** Adds `token` and its subcommands to the program. */
export function addTokenCommand(program: Command, io: CliIo): Command {
  const token = program
    .command('token')
    .description('make tokens')
    .exitOverride();
  token
    .command('new')
    .description('print a new random token (ftx1_ + 32 random bytes, base64url) on stdout')
    .exitOverride()
    .action(() => {
      io.stdout.write(`${generateToken()}\n`);
    });
  return token;
}
