import { createLogger } from '@openiothub/logging';
import { Lifecycle, createMetricsRegistry, type ServiceContext } from '@openiothub/runtime';

/** A ServiceContext for tests: silent logger (LOG_LEVEL overrides), its own lifecycle and metrics. */
export function testContext(name = 'test'): ServiceContext & AsyncDisposable {
  const log = createLogger({ name, level: process.env['LOG_LEVEL'] ?? 'silent' });
  const lifecycle = new Lifecycle(log);
  return {
    log,
    lifecycle,
    metrics: createMetricsRegistry(),
    async [Symbol.asyncDispose]() {
      await lifecycle.stop(10_000);
    },
  };
}
