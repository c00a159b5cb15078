import { describe, expect, it } from 'vitest';
import { createLogger } from '@openiothub/logging';
import { PassThrough } from 'node:stream';
import { Lifecycle } from './lifecycle.js';
import { createMetricsRegistry, startAdminServer } from './admin-server.js';

function quietLog() {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (b: Buffer) => lines.push(b.toString()));
  return { log: createLogger({ name: 'test', destination: out }), lines };
}

describe('Lifecycle', () => {
  it('runs stop hooks newest first and keeps going past a failing hook', async () => {
    const { log } = quietLog();
    const lc = new Lifecycle(log);
    const order: string[] = [];
    lc.onStop('db', () => void order.push('db'));
    lc.onStop('broken', () => {
      throw new Error('x');
    });
    lc.onStop('listener', async () => void order.push('listener'));
    expect(await lc.stop(1000)).toBe(true);
    expect(order).toEqual(['listener', 'db']);
  });

  it('names the hook that hangs past the deadline', async () => {
    const { log, lines } = quietLog();
    const lc = new Lifecycle(log);
    lc.onStop('stuck-nats', () => new Promise(() => {}));
    expect(await lc.stop(50)).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(lines.join('')).toContain('"hook":"stuck-nats"');
  });

  it('serves livez, readyz and metrics on the admin port', async () => {
    const { log } = quietLog();
    const lc = new Lifecycle(log);
    let dbUp = true;
    lc.addReadinessCheck('db', () => dbUp);
    const admin = await startAdminServer({ port: 0, host: '127.0.0.1', lifecycle: lc, metrics: createMetricsRegistry() });
    const get = (p: string) => fetch(`http://127.0.0.1:${admin.port}${p}`);
    try {
      expect((await get('/livez')).status).toBe(200);
      expect((await get('/readyz')).status).toBe(503); // not marked ready yet
      lc.markReady();
      expect((await get('/readyz')).status).toBe(200);
      dbUp = false;
      const r = await get('/readyz');
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({ ready: false, failing: ['db'] });
      dbUp = true;
      const m = await get('/metrics');
      expect(await m.text()).toContain('openiothub_process_cpu_seconds_total');
      const stopping = lc.stop(1000);
      expect((await get('/readyz')).status).toBe(503);
      await stopping;
    } finally {
      await admin.close();
    }
  });
});
