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
          include: ['test/*.e2e.test.ts'],
          env: { FTX_TEST_TLS: '1' },
        },
      },
    ],
  },
});
