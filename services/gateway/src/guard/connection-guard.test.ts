import { afterEach, describe, expect, it } from 'vitest';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ConnectionGuard, type RefusalReason } from './connection-guard.js';

// The guard on a real listener: refused sockets are cut before the server's handler runs.

let server: Server | undefined;
const clients: Socket[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

async function listen(guard: ConnectionGuard): Promise<{ port: number; served: Socket[] }> {
  const served: Socket[] = [];
  server = createServer((s) => {
    if (!s.destroyed) served.push(s);
  });
  guard.watch(server);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return { port: (server.address() as AddressInfo).port, served };
}

/** Connect from `localAddress`; resolves 'open' if the socket is still open after a moment, 'closed' otherwise. */
function dial(port: number, localAddress = '127.0.0.1'): Promise<'open' | 'closed'> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', localAddress });
    clients.push(s);
    s.on('error', () => undefined);
    s.once('close', () => resolve('closed'));
    s.once('connect', () => setTimeout(() => resolve(s.destroyed ? 'closed' : 'open'), 100));
  });
}

describe('ConnectionGuard', () => {
  it('caps open connections per source address; other addresses are unaffected; a closed one frees a slot', async () => {
    const refused: RefusalReason[] = [];
    const guard = new ConnectionGuard({ maxPerIp: 3, ratePerIp: 1000, maxTotal: 100, onRefused: (r) => refused.push(r) });
    const { port, served } = await listen(guard);
    expect(await Promise.all([dial(port, '127.0.0.7'), dial(port, '127.0.0.7'), dial(port, '127.0.0.7')])).toEqual(['open', 'open', 'open']);
    expect(await dial(port, '127.0.0.7')).toBe('closed');
    expect(refused).toEqual(['connections-per-ip']);
    expect(await dial(port, '127.0.0.8')).toBe('open');
    expect(guard.open('127.0.0.7')).toBe(3);
    expect(served).toHaveLength(4);
    clients[0]!.destroy();
    await new Promise((r) => setTimeout(r, 50));
    expect(guard.open('127.0.0.7')).toBe(2);
    expect(await dial(port, '127.0.0.7')).toBe('open');
  });

  it('limits the rate of new connections per address with a bucket that refills', async () => {
    let now = 0;
    const refused: RefusalReason[] = [];
    const guard = new ConnectionGuard({ maxPerIp: 100, ratePerIp: 2, burstPerIp: 4, maxTotal: 100, now: () => now, onRefused: (r) => refused.push(r) });
    const { port } = await listen(guard);
    const first = [];
    for (let i = 0; i < 6; i += 1) first.push(await dial(port, '127.0.0.9'));
    expect(first).toEqual(['open', 'open', 'open', 'open', 'closed', 'closed']);
    expect(refused).toEqual(['connection-rate-per-ip', 'connection-rate-per-ip']);
    now += 1000; // two more a second
    expect([await dial(port, '127.0.0.9'), await dial(port, '127.0.0.9'), await dial(port, '127.0.0.9')]).toEqual(['open', 'open', 'closed']);
  });

  it('caps the process total', async () => {
    const guard = new ConnectionGuard({ maxPerIp: 100, ratePerIp: 1000, maxTotal: 2 });
    const { port } = await listen(guard);
    expect([await dial(port, '127.0.0.10'), await dial(port, '127.0.0.11'), await dial(port, '127.0.0.12')]).toEqual(['open', 'open', 'closed']);
    expect(guard.open()).toBe(2);
  });
});
