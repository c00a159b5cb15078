import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

/** A service started from its build (`services/<name>/dist/main.js`) as its own process. */
export interface ServiceProcess {
  readonly child: ChildProcess;
  /** Its `/metrics` text. */
  metrics(): Promise<string>;
  /** What it logged so far (with `logs: 'capture'`; empty otherwise). */
  logs(): string;
  /** SIGTERM (graceful) or SIGKILL (a crash); resolves once the process is gone. */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

/**
 * Start a built service with only `env` (plus PATH) and wait until its admin port reports ready.
 * The entry must exist: the build (npm test runs it) makes it.
 */
export async function startServiceProcess(opts: {
  entry: string;
  env: Record<string, string>;
  adminPort: number;
  args?: string[];
  deadlineMs?: number;
  stderr?: 'inherit' | 'ignore';
  /** Keep what the process logs (pino writes to stdout) for {@link ServiceProcess.logs}. */
  logs?: 'capture';
}): Promise<ServiceProcess> {
  if (!existsSync(opts.entry)) throw new Error(`${opts.entry} is missing: build first (npm test does)`);
  const inherit = process.env['SERVICE_LOGS'] === 'inherit';
  const child = spawn(process.execPath, [...(opts.args ?? []), opts.entry], {
    // SERVICE_LOGS=inherit shows the processes' logs (pino writes to stdout) when a test needs looking into
    stdio: ['ignore', opts.logs === 'capture' ? 'pipe' : inherit ? 'inherit' : 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'warn', ...opts.env, ADMIN_PORT: String(opts.adminPort) },
  });
  const logged: Buffer[] = [];
  // until it is ready, the tail of what it writes goes into the error if it never gets there
  let startup: string | undefined = '';
  const keepStartup = (b: Buffer) => {
    if (startup !== undefined) startup = (startup + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', (b: Buffer) => {
    if (opts.logs === 'capture') logged.push(b);
    keepStartup(b);
  });
  child.stderr?.on('data', (b: Buffer) => {
    if (opts.stderr === 'inherit') process.stderr.write(b);
    keepStartup(b);
  });
  const admin = `http://127.0.0.1:${opts.adminPort}`;
  const deadline = Date.now() + (opts.deadlineMs ?? 30_000);
  while (!(await fetch(`${admin}/readyz`).then((r) => r.ok, () => false))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      const why = child.exitCode !== null ? `exited with code ${child.exitCode}` : `not ready after ${opts.deadlineMs ?? 30_000} ms`;
      throw new Error(`${opts.entry} did not become ready (${why}); it wrote:\n${startup}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  startup = undefined;
  return {
    child,
    metrics: async () => (await fetch(`${admin}/metrics`)).text(),
    logs: () => Buffer.concat(logged).toString('utf8'),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill(signal);
      await exited;
    },
  };
}
