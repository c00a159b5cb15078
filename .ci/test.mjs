// `npm test`: everything, in the order a failure is cheapest to find: install and build, proto
// drift, lint, typecheck, then unit + integration + e2e tests (vitest projects) against the real
// Postgres, NATS and Redis, and the hub on its real ports with the Microsoft SDKs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePnpm, installAndBuild, root, run, step } from '../deploy/local/bin/bootstrap.mjs';

const env = ensurePnpm();
installAndBuild(env);
step('proto drift');
run(process.execPath, ['.ci/check-proto-drift.mjs'], env);
step('lint');
run('pnpm', ['exec', 'eslint', '--max-warnings', '0', '.'], env);
step('typecheck');
run('pnpm', ['exec', 'tsc', '-p', 'tsconfig.json', '--noEmit'], env);
step('tests: unit, integration, e2e');
const results = join(root, '.data', 'test-results.json');
const vitest = ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...process.argv.slice(2)];
const { spawnSync } = await import('node:child_process');
const r = spawnSync('pnpm', vitest, { cwd: root, env, stdio: 'inherit' });
let summary;
try {
  summary = JSON.parse(readFileSync(results, 'utf8'));
} catch {
  summary = undefined;
}
if (summary) {
  const skipped = summary.numPendingTests + summary.numTodoTests;
  process.stdout.write(`\ntests: ${summary.numPassedTests} passed, ${summary.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
}
if (r.status !== 0 && (!summary || summary.numFailedTests === 0)) {
  process.stdout.write('vitest failed outside the test count (unhandled errors or a suite that could not load): see above\n');
}
process.exit(r.status ?? 1);
