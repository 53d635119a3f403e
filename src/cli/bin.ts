#!/usr/bin/env node
/** The `ftx` executable. */
import { main } from './program.js';

const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env });
process.exitCode = code;
