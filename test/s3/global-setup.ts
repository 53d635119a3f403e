/**
 * Starts the local Ceph RGW (scripts/s3-local.sh start: installs it if missing, creates the cluster
 * on first use, else restarts it; a no-op when it runs) and hands its endpoint and credentials to the
 * tests. Throws, so the suite fails, when it cannot start. Stops it again only if it started it.
 * FTX_S3_DIR / FTX_S3_PORT / FTX_S3_MON_PORT choose the instance (defaults: /tmp/ftx-s3-store, 7480, 3300).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

const SCRIPT = resolve('scripts/s3-local.sh');

/** What the tests need to reach the store. */
export interface S3TestEnv {
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** The env file's variables (AWS_*), for child processes such as `ftx serve s3://...`. */
  vars: Record<string, string>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    s3: S3TestEnv;
  }
}

let startedHere = false;

export default function setup(project: TestProject): () => void {
  const wasRunning = spawnSync('bash', [SCRIPT, 'status'], { stdio: 'ignore' }).status === 0;
  if (!wasRunning) {
    const run = spawnSync('bash', [SCRIPT, 'start'], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
    if (run.status !== 0) throw new Error(`the local S3 store did not start (scripts/s3-local.sh start exited ${run.status ?? run.signal})`);
    startedHere = true;
  }
  const vars: Record<string, string> = {};
  for (const line of execFileSync('bash', [SCRIPT, 'env'], { encoding: 'utf8' }).split('\n')) {
    const m = /^export ([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) vars[m[1]] = m[2];
  }
  const need = (name: string): string => {
    const value = vars[name];
    if (value === undefined) throw new Error(`scripts/s3-local.sh env did not set ${name}`);
    return value;
  };
  project.provide('s3', {
    endpoint: need('FTX_S3_ENDPOINT'),
    accessKeyId: need('AWS_ACCESS_KEY_ID'),
    secretAccessKey: need('AWS_SECRET_ACCESS_KEY'),
    region: need('AWS_REGION'),
    vars,
  });
  return () => {
    if (startedHere) spawnSync('bash', [SCRIPT, 'stop'], { stdio: 'inherit' });
  };
}
