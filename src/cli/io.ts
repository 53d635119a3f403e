/** The process streams the CLI writes to (injectable so tests can run the CLI in-process). */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WriteStream;
  env: NodeJS.ProcessEnv;
}
