import { defineConfig } from 'vitest/config';

/** Tests that need root (tmpfs mounts). They fail, never skip, when they cannot set up. */
export default defineConfig({
  test: {
    include: ['test/root/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
