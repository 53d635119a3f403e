import { defineConfig } from 'vitest/config';

/**
 * `npm run test:s3`: the object-store backend against a real Ceph RADOS Gateway on loopback, which
 * test/s3/global-setup.ts starts with scripts/s3-local.sh (or finds running: .ci/run starts it first).
 * When the store cannot start, the setup throws and the suite fails; nothing here ever skips.
 */
export default defineConfig({
  test: {
    include: ['test/s3/**/*.test.ts'],
    globalSetup: ['test/s3/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Ceph shares the machine's cores with the tests: one file at a time.
    fileParallelism: false,
  },
});
