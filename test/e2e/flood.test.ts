import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqttPacket from 'mqtt-packet';
import rhea, { type EventContext } from 'rhea';
import { startExtraGateway, type ExtraGateway } from './gateways.js';
import { createDevice, identityToken, rawConnect, usernameOf } from './devices.js';
import { hub, hubFetch, poll } from './helpers.js';

// Slow-client and connection-flood protection (issue: hostile-input hardening) on a gateway
// process of the build with small limits: 10 connections per source address, 1.5 s to
// authenticate. Flooding clients dial from 127.0.0.21-23; the well-behaved device from 127.0.0.1.

let gateway: ExtraGateway;
const sockets: TLSSocket[] = [];
beforeAll(async () => {
  gateway = await startExtraGateway({ env: { MAX_CONNECTIONS_PER_IP: '10', AUTH_DEADLINE_MS: '1500' } });
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await gateway?.stop();
});

/** A TLS connection from `localAddress` that says nothing after the handshake; resolves once it is up, or 'refused'. */
function idleTls(port: number, localAddress: string): Promise<{ socket: TLSSocket; closed: Promise<number> } | 'refused'> {
  return new Promise((resolve) => {
    const raw = netConnect({ host: '127.0.0.1', port, localAddress });
    raw.on('error', () => undefined);
    const socket = tlsConnect({ socket: raw, ca: readFileSync(hub().caCertPath), servername: 'localhost' });
    sockets.push(socket);
    const openedAt = Date.now();
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now() - openedAt)));
    socket.on('error', () => undefined);
    socket.once('secureConnect', () => resolve({ socket, closed }));
    void closed.then(() => resolve('refused'));
  });
}

describe('connection floods and slow clients', () => {
  it('an address past its connection limit is refused before TLS while devices elsewhere connect and send', async () => {
    const held = await Promise.all(Array.from({ length: 10 }, () => idleTls(gateway.mqttPort, '127.0.0.21')));
    expect(held.filter((h) => h === 'refused')).toEqual([]);
    // the 11th from that address — on any listener of the process — is cut at once
    expect(await idleTls(gateway.mqttPort, '127.0.0.21')).toBe('refused');
    expect(await idleTls(gateway.amqpPort, '127.0.0.21')).toBe('refused');
    expect(await idleTls(gateway.httpsPort, '127.0.0.21')).toBe('refused');
    // a device from another address is served as usual
    const d = await createDevice('flood');
    const client = await rawConnect({ clientId: d.deviceId, username: usernameOf(d), password: identityToken(d), port: gateway.mqttPort, clean: true });
    await client.publishAsync(`devices/${d.deviceId}/messages/events/`, 'still flowing', { qos: 1 });
    await client.endAsync();
    // the idle connections never sent CONNECT: each is closed at the deadline, freeing the address
    const lifetimes = await Promise.all(held.map((h) => (h as { closed: Promise<number> }).closed));
    for (const ms of lifetimes) expect(ms).toBeGreaterThanOrEqual(1400);
    expect(await idleTls(gateway.mqttPort, '127.0.0.21')).not.toBe('refused');
  });

  it('an MQTT client dribbling bytes of a CONNECT does not outlive the deadline', async () => {
    const h = await idleTls(gateway.mqttPort, '127.0.0.22');
    if (h === 'refused') throw new Error('refused');
    const connectBytes = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: 'slow', clean: true, keepalive: 60 });
    let i = 0;
    const drip = setInterval(() => {
      if (i < connectBytes.length - 1 && !h.socket.destroyed) h.socket.write(connectBytes.subarray(i, ++i));
    }, 100);
    const lifetime = await h.closed;
    clearInterval(drip);
    expect(lifetime).toBeGreaterThanOrEqual(1400);
    expect(lifetime).toBeLessThan(10_000);
  });

  it('an AMQP connection that opens and authenticates nothing is closed with amqp:unauthorized-access', async () => {
    const container = rhea.create_container();
    const conn = container.connect({ host: 'localhost', hostname: 'localhost', port: gateway.amqpPort, transport: 'tls', ca: readFileSync(hub().caCertPath), servername: 'localhost', reconnect: false, localAddress: '127.0.0.23' } as never);
    const started = Date.now();
    const condition = await new Promise<string>((resolve) => {
      conn.once('connection_close', (ctx: EventContext) => resolve(String((ctx.connection as unknown as { error?: { condition?: string } }).error?.condition)));
      conn.once('disconnected', () => resolve('disconnected'));
    });
    expect(condition).toBe('amqp:unauthorized-access');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
  });

  it('a device that stops reading while the hub writes to it (a slow consumer) is disconnected; the gateway goes on serving', async () => {
    const d = await createDevice('slow');
    // the test hub's own gateway, with its default limits: the method calls below come from one address
    const h = await idleTls(hub().ports.mqtt, '127.0.0.1');
    if (h === 'refused') throw new Error('refused');
    const parser = mqttPacket.parser({ protocolVersion: 4 });
    const packets: string[] = [];
    parser.on('packet', (p) => packets.push(p.cmd));
    h.socket.on('data', (b: Buffer) => parser.parse(b));
    h.socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: d.deviceId, clean: true, keepalive: 600, username: usernameOf(d), password: Buffer.from(identityToken(d)) }));
    h.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$iothub/methods/POST/#', qos: 0 }] }));
    await poll(async () => packets, (p) => p.includes('suback'), 5000, 'SUBACK');
    // stop reading: what the hub writes piles up in the gateway once the TCP buffers are full
    h.socket.pause();
    const payload = 'x'.repeat(120 * 1024);
    const invoke = (body: unknown) =>
      hubFetch(`/twins/${d.deviceId}/methods`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
    const calls = Array.from({ length: 250 }, () => invoke({ methodName: 'fill', payload, responseTimeoutInSeconds: 5 }));
    const statuses = await Promise.all(calls);
    // the hub cut the connection: methods in flight fail, the next finds the device offline
    expect(statuses.every((s) => s === 504 || s === 404)).toBe(true);
    expect(await invoke({ methodName: 'm', payload: null, responseTimeoutInSeconds: 5 })).toBe(404);
    expect((await hubFetch('/statistics/devices')).status).toBe(200);
    // reading again, the device finds its connection ended by the hub
    h.socket.resume();
    await h.closed;
    expect(packets).not.toContain('connack-refused');
  });
});
