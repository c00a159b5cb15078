import { describe, expect, it } from 'vitest';
import { request } from 'node:https';
import { createDevCa, issueCertificate } from '@openiothub/auth';
import { closeGracefully, listenHttps } from './server.js';

describe('closeGracefully', () => {
  it('cuts a request that is still in flight once the grace period is over', async () => {
    const ca = await createDevCa();
    const leaf = await issueCertificate(ca, { commonName: 'localhost', altNames: ['localhost'], usage: 'server' });
    let arrived!: () => void;
    const requestArrived = new Promise<void>((r) => (arrived = r));
    // a handler that never answers: only the shutdown can end this request
    const { server, port } = await listenHttps({ host: '127.0.0.1', port: 0, cert: leaf.cert, key: leaf.key, handler: () => arrived() });
    const outcome = new Promise<string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, servername: 'localhost', path: '/', ca: ca.cert }, () => resolve('answered'));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      req.end();
    });
    await requestArrived;
    await closeGracefully(server, 50);
    expect(await outcome).toBe('ECONNRESET');
    expect(server.listening).toBe(false);
  });
});
