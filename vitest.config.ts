import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{agent,cloud,shared,firmware-protocol,scripts}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two cores: keep file-level parallelism modest so process-level fault tests keep their timing.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
  },
});
