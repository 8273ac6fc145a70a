import { defineConfig } from 'vitest/config';

// The browser tests start real services and one Chromium: run them in one process, in order,
// with generous waits (they only ever wait for something to appear, never time it).
export default defineConfig({
  test: {
    environment: 'node',
    include: ['e2e/**/*.e2e.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 600_000,
    sequence: { concurrent: false },
  },
});
