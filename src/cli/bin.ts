#!/usr/bin/env node
/** The `ftx` executable. `--version` answers before anything else is loaded: start-up stays light. */
import { FTX_VERSION } from '../version.js';

// A reader that went away (`ftx put … | head`) must not abort an upload: stop printing, go on.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
  });
}

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${FTX_VERSION}\n`);
} else {
  // An empty FTX_* variable counts as unset (commander's Option.env() would take "" as a value).
  for (const [name, value] of Object.entries(process.env)) if (name.startsWith('FTX_') && value === '') delete process.env[name];
  const { main } = await import('./program.js');
  process.exitCode = await main(argv, { stdout: process.stdout, stderr: process.stderr });
}
