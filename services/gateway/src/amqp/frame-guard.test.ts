import { describe, expect, it } from 'vitest';
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { AmqpFrameGuard, guardedSocket } from './frame-guard.js';

function frame(size: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(size, 0);
  b[4] = 2; // doff
  return b;
}

async function feed(chunks: Buffer[], max = 1024): Promise<{ out: Buffer; err?: Error }> {
  const g = new AmqpFrameGuard(max);
  const out: Buffer[] = [];
  g.on('data', (c: Buffer) => out.push(c));
  const err = await new Promise<Error | undefined>((resolve) => {
    g.on('error', resolve);
    g.on('finish', () => resolve(undefined));
    for (const c of chunks) g.write(c);
    g.end();
  });
  return { out: Buffer.concat(out), err };
}

describe('AMQP frame guard', () => {
  it('passes headers and frames within the limit, split anywhere', async () => {
    const stream = Buffer.concat([Buffer.from('AMQP\x03\x01\x00\x00', 'latin1'), frame(30), Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), frame(1024), frame(8)]);
    for (const cut of [1, 3, 7, 9, 40, 500]) {
      const parts: Buffer[] = [];
      for (let i = 0; i < stream.length; i += cut) parts.push(stream.subarray(i, i + cut));
      const r = await feed(parts);
      expect(r.err).toBeUndefined();
      expect(r.out.equals(stream)).toBe(true);
    }
  });

  it('fails a stream announcing a frame over the limit, or a size below the frame header', async () => {
    const big = Buffer.alloc(8);
    big.writeUInt32BE(1025, 0);
    expect((await feed([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), big])).err?.message).toMatch(/1025 bytes refused/);
    const tiny = Buffer.alloc(8);
    tiny.writeUInt32BE(4, 0);
    expect((await feed([tiny])).err).toBeDefined();
  });
});

describe('guardedSocket', () => {
  it('cuts a client that stops reading once 8 MB are written and unread (a slow consumer)', async () => {
    const accepted = new Promise<Socket>((resolve) => {
      const server = createServer((s) => {
        server.close();
        resolve(s);
      }).listen(0, '127.0.0.1', () => {
        const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
        client.pause(); // never reads
        client.on('error', () => undefined);
      });
    });
    const socket = await accepted;
    socket.on('error', () => undefined);
    const cuts: string[] = [];
    const wrapped = guardedSocket(socket as unknown as TLSSocket, (err) => cuts.push(err.message));
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    while (!socket.destroyed && written < 64 * 1024 * 1024) {
      wrapped.write(chunk);
      written += chunk.length;
    }
    expect(socket.destroyed).toBe(true);
    expect(cuts).toEqual([expect.stringMatching(/^slow consumer: \d+ bytes unread$/)]);
    // cut within the limit plus what the TCP buffers took, far below the 64 MB offered
    expect(written).toBeLessThan(20 * 1024 * 1024);
  });
});
