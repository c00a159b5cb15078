// `npm test`: everything, in the order a failure is cheapest to find: install and build, proto
// drift, lint, typecheck, helm (built with Go when missing), then unit + integration + chart + e2e tests (vitest projects) against the real
// Postgres, NATS and Redis, and the hub on its real ports with the Microsoft SDKs.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { ensurePnpm, installAndBuild, root, run, step } from '../deploy/local/bin/bootstrap.mjs';

const env = ensurePnpm();
installAndBuild(env);
step('proto drift');
run(process.execPath, ['.ci/check-proto-drift.mjs'], env);
step('lint');
run('pnpm', ['exec', 'eslint', '--max-warnings', '0', '.'], env);
step('typecheck');
run('pnpm', ['exec', 'tsc', '-p', 'tsconfig.json', '--noEmit'], env);
// the chart tests need helm: not on npm nor in Debian; Go builds it from the module proxy (spec/tooling.md §5)
const goBin = join(process.env.GOBIN || join(process.env.GOPATH || join(homedir(), 'go'), 'bin'));
const onPath = (cmd) => (process.env.PATH ?? '').split(delimiter).some((d) => existsSync(join(d, cmd)));
if (!process.env.HELM && !onPath('helm') && !existsSync(join(goBin, 'helm'))) {
  if (onPath('go') || existsSync('/usr/local/go/bin/go')) {
    step('helm (go install, once)');
    run(onPath('go') ? 'go' : '/usr/local/go/bin/go', ['install', 'helm.sh/helm/v3/cmd/helm@v3.21.4'], env);
  } else {
    process.stdout.write('helm not found and no Go to build it: the chart tests will be skipped (CI requires them)\n');
  }
}
// two runs: the scale-out proof puts its own proxy on the SDK ports (443/8883/5671) that the e2e
// hub holds for its whole run, so it goes second
const { spawnSync } = await import('node:child_process');
const extra = process.argv.slice(2);
const runs = extra.length > 0 ? [['all', extra]] : [['unit, integration, charts, e2e', ['--project', 'unit', '--project', 'int', '--project', 'charts', '--project', 'e2e']], ['scale-out proof', ['--project', 'scale']]];
const total = { passed: 0, failed: 0, skipped: 0 };
let status = 0;
for (const [i, [what, args]] of runs.entries()) {
  step(`tests: ${what}`);
  const results = join(root, '.data', `test-results${i === 0 ? '' : `-${i}`}.json`);
  const r = spawnSync('pnpm', ['exec', 'vitest', 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${results}`, ...args], { cwd: root, env, stdio: 'inherit' });
  let summary;
  try {
    summary = JSON.parse(readFileSync(results, 'utf8'));
  } catch {
    summary = undefined;
  }
  if (summary) {
    total.passed += summary.numPassedTests;
    total.failed += summary.numFailedTests;
    total.skipped += summary.numPendingTests + summary.numTodoTests;
  }
  if (r.status !== 0 && (!summary || summary.numFailedTests === 0)) {
    process.stdout.write('vitest failed outside the test count (unhandled errors or a suite that could not load): see above\n');
  }
  if (r.status !== 0) status = r.status ?? 1;
}
process.stdout.write(`\ntests: ${total.passed} passed, ${total.failed} failed${total.skipped ? `, ${total.skipped} skipped` : ''}\n`);
process.exit(status);
