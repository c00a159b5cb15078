import { defineConfig } from 'vitest/config';

// Resolve workspace packages to their TypeScript sources, so tests never run against a stale dist/.
const resolve = { conditions: ['@openiothub/source'] };
const ssr = { resolve: { conditions: ['@openiothub/source'], externalConditions: ['@openiothub/source'] } };

export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'deploy/*/src/**/*.test.ts'],
          pool: 'threads',
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'int',
          include: ['packages/*/test/**/*.int.test.ts', 'services/*/test/**/*.int.test.ts'],
          globalSetup: ['packages/testing/src/require-backing-services.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          // SDK processes must inherit NODE_EXTRA_CA_CERTS set by the global setup: use child processes.
          pool: 'forks',
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
