// Shared by `npm start` and `npm test`: make pnpm available without root or corepack (the
// registry here serves no signatures, so corepack fails: spec/tooling.md P2), install, build.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(new URL('../../..', import.meta.url)));
const PNPM_VERSION = '10.34.9';
const toolsDir = join(root, '.data', 'tools');

/** Print a step header. */
export function step(title) {
  process.stdout.write(`\n==> ${title}\n`);
}

/** Run a command with inherited stdio; exit with its code when it fails. */
export function run(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { cwd: root, env, stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`${cmd}: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** Run a long-lived command, forwarding SIGINT/SIGTERM; resolves its exit code. */
export function runForwardingSignals(cmd, args, env = process.env) {
  return new Promise((resolveCode) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: 'inherit' });
    const forward = (sig) => child.kill(sig);
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('exit', (code, signal) => resolveCode(code ?? (signal ? 1 : 0)));
  });
}

function pnpmWorks(env) {
  const r = spawnSync('pnpm', ['--version'], { env, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() === PNPM_VERSION;
}

/** An env whose PATH has pnpm (installing it under .data/tools when needed). */
export function ensurePnpm() {
  if (Number(process.versions.node.split('.')[0]) < 20) {
    process.stderr.write(`Open IoT Hub needs Node.js 20 or newer; this is ${process.version}.\n`);
    process.exit(1);
  }
  const env = { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' };
  if (pnpmWorks(env)) return env;
  env.PATH = [join(toolsDir, 'node_modules', '.bin'), env.PATH].join(delimiter);
  if (!pnpmWorks(env)) {
    step(`installing pnpm ${PNPM_VERSION} into .data/tools`);
    run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefix', toolsDir, `pnpm@${PNPM_VERSION}`], env);
  }
  return env;
}

/** pnpm install (frozen lockfile when one is committed) and a turbo build of every package. */
export function installAndBuild(env) {
  step('installing dependencies');
  run('pnpm', ['install', ...(existsSync(join(root, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : []), '--reporter=append-only'], env);
  step('building');
  run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only'], env);
}
