/** Where a periodic task registers its stop. */
export interface PeriodicHooks {
  onStop(name: string, hook: () => Promise<void> | void): void;
}

/**
 * Run `task` every `intervalMs`, never two passes at once (a slow pass delays the next rather
 * than piling up). Errors go to `onError` and the schedule continues. Stops with the lifecycle,
 * waiting for a pass in flight.
 */
export function runPeriodically(opts: { name: string; intervalMs: number; task: () => Promise<unknown>; onError: (err: unknown) => void; lifecycle: PeriodicHooks }): void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = () => {
    running = opts.task().then(
      () => undefined,
      (err: unknown) => opts.onError(err),
    ).finally(() => {
      if (!stopped) timer = setTimeout(pass, opts.intervalMs);
    });
  };
  timer = setTimeout(pass, opts.intervalMs);
  opts.lifecycle.onStop(opts.name, async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  });
}
