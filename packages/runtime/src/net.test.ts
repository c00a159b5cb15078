import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './net.js';

const ephemeralLow = (() => {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return undefined;
  }
})();

describe('freePort', () => {
  it('hands out distinct ports a listener can bind, below the kernel range for outgoing connections', async () => {
    const ports = await Promise.all(Array.from({ length: 200 }, () => freePort()));
    expect(new Set(ports).size).toBe(ports.length);
    if (ephemeralLow !== undefined && ephemeralLow > 11_000) for (const p of ports) expect(p).toBeLessThan(ephemeralLow);
    const srv = createServer();
    await new Promise<void>((ok, fail) => {
      srv.once('error', fail);
      srv.listen(ports[0], '127.0.0.1', () => ok());
    });
    await new Promise<void>((r) => srv.close(() => r()));
  });

});
