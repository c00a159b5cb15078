import type { Logger } from '@openiothub/logging';

type Hook = { readonly name: string; readonly fn: () => Promise<void> | void };

/**
 * Start/stop bookkeeping for one process (which may host several services). Services register
 * stop hooks as they open resources; `stop()` runs them in reverse order of registration, so
 * listeners close before the clients they use.
 */
export class Lifecycle {
  readonly #log: Logger;
  readonly #hooks: Hook[] = [];
  readonly #readiness = new Map<string, () => boolean>();
  #ready = false;
  #stopping = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Register something to close on shutdown. */
  onStop(name: string, fn: () => Promise<void> | void): void {
    this.#hooks.push({ name, fn });
  }

  /** A cheap, local readiness check (connection state), never a network round trip. */
  addReadinessCheck(name: string, check: () => boolean): void {
    this.#readiness.set(name, check);
  }

  markReady(): void {
    this.#ready = true;
  }

  /** Ready when started, not stopping and every check passes; returns the failing check names. */
  readiness(): { ready: boolean; failing: string[] } {
    const failing = [...this.#readiness].filter(([, check]) => !safe(check)).map(([name]) => name);
    return { ready: this.#ready && !this.#stopping && failing.length === 0, failing };
  }

  /**
   * Run every stop hook, newest first. Resolves true when all finished within `timeoutMs`; false
   * (after logging which hook hung) otherwise. A hook that throws is logged and the rest still run.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.#stopping = true;
    let current = '';
    const run = async (): Promise<void> => {
      for (const hook of [...this.#hooks].reverse()) {
        current = hook.name;
        try {
          await hook.fn();
        } catch (err) {
          this.#log.error({ err, hook: hook.name }, 'stop hook failed');
        }
      }
      this.#hooks.length = 0;
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
      timer.unref();
    });
    const outcome = await Promise.race([run().then(() => 'done' as const), timedOut]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.#log.error({ hook: current, timeoutMs }, 'shutdown deadline passed; hook still running');
      return false;
    }
    return true;
  }
}

function safe(check: () => boolean): boolean {
  try {
    return check();
  } catch {
    return false;
  }
}
