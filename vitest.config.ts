import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/root/**', 'test/s3/**', 'node_modules/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
