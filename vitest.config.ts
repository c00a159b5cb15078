import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Resolve workspace packages (@openiothub/<name>) to their TypeScript sources, so tests never run
// against a stale dist/. Aliases (not export conditions) also reach vitest's global setup files.
const root = fileURLToPath(new URL('.', import.meta.url));
const alias = ['packages', 'services', 'deploy'].flatMap((dir) =>
  readdirSync(`${root}${dir}`)
    .filter((name) => existsSync(`${root}${dir}/${name}/src/index.ts`))
    .map((name) => ({ find: `@openiothub/${name}`, replacement: `${root}${dir}/${name}/src/index.ts` })),
);

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'deploy/*/src/**/*.test.ts'],
          pool: 'threads',
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['packages/*/test/**/*.int.test.ts', 'services/*/test/**/*.int.test.ts', 'deploy/*/test/**/*.int.test.ts'],
          globalSetup: ['packages/testing/src/require-backing-services.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'charts',
          include: ['test/charts/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          // run on its own after the others (npm test does): it takes the SDK ports 443/8883/5671 for its proxy
          name: 'scale',
          include: ['test/scale/**/*.test.ts'],
          globalSetup: ['packages/testing/src/require-backing-services.ts', 'test/scale/global-setup.ts'],
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['packages/testing/src/require-backing-services.ts', 'test/e2e/global-setup.ts'],
          // SDK processes must inherit NODE_EXTRA_CA_CERTS set by the global setup: child processes.
          pool: 'forks',
          // files share one hub and some rotate its policy keys: one file at a time
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
