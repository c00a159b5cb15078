import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import rhea, { type EventContext } from 'rhea';
import { createDevice, identityToken } from './devices.js';
import { curl, hub, hubFetch, iothub, ownerToken } from './helpers.js';

// The IP filter (protocols-ops §8, checklist 151-160). Clients pick their source address on the
// loopback network (127.0.0.5, 127.0.0.6 …), so the rules here never touch the other test files'
// clients, which come from 127.0.0.1.

afterAll(async () => {
  await iothub('ip-filter', 'clear');
});

const rules = async (list: Array<{ filterName: string; action: string; ipMask: string }>) => {
  const res = await hubFetch('/settings/ipFilter', { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ipFilterRules: list }) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

/** An MQTT CONNECT from `localAddress`; resolves 0 when accepted, else the CONNACK code. */
async function mqttFrom(localAddress: string): Promise<number> {
  const d = await createDevice('ipf');
  try {
    const c = await mqtt.connectAsync(`mqtts://localhost:${hub().ports.mqtt}`, {
      protocolVersion: 4,
      clientId: d.deviceId,
      username: `localhost/${d.deviceId}/?api-version=2021-04-12`,
      password: identityToken(d),
      reconnectPeriod: 0,
      ca: readFileSync(hub().caCertPath),
      localAddress,
    } as never);
    await c.endAsync();
    return 0;
  } catch (err) {
    return Number((err as { code?: number }).code ?? -1);
  }
}

/** An AMQP Open + CBS put-token from `localAddress`: 'open' when the hub answers 200, else what ended it. */
function amqpFrom(localAddress: string): Promise<string> {
  const container = rhea.create_container();
  const conn = container.connect({ host: 'localhost', hostname: 'localhost', port: hub().ports.amqp, transport: 'tls', ca: readFileSync(hub().caCertPath), servername: 'localhost', reconnect: false, localAddress } as never);
  return new Promise((resolve) => {
    const done = (outcome: string) => {
      try {
        conn.close();
      } catch {
        /* closed */
      }
      resolve(outcome);
    };
    conn.once('connection_close', (ctx: EventContext) => done(String((ctx.connection as unknown as { error?: { condition?: string } }).error?.condition ?? 'closed')));
    conn.once('disconnected', () => done('disconnected'));
    conn.once('connection_open', () => {
      const reply = conn.open_receiver({ source: { address: '$cbs' } });
      const sender = conn.open_sender({ target: { address: '$cbs' } });
      reply.once('message', (ctx: EventContext) => done(`status ${String((ctx.message!.application_properties as Record<string, unknown>)['status-code'])}`));
      sender.once('sendable', () =>
        sender.send({ body: ownerToken(), to: '$cbs', reply_to: 'cbs', message_id: rhea.generate_uuid(), application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost' } }),
      );
    });
  });
}

const https = (path: string) => `https://localhost${hub().ports.https === 443 ? '' : `:${hub().ports.https}`}${path}`;

describe('IP filter rules', () => {
  it('are validated: at most 10, names unique ignoring case, IPv4 masks only', async () => {
    const many = Array.from({ length: 11 }, (_, i) => ({ filterName: `r${i}`, action: 'Accept', ipMask: '10.0.0.1' }));
    expect((await rules(many)).status).toBe(400);
    expect((await rules([{ filterName: 'A', action: 'Accept', ipMask: '10.0.0.1' }, { filterName: 'a', action: 'Reject', ipMask: '10.0.0.2' }])).status).toBe(400);
    expect((await rules([{ filterName: 'bad', action: 'Accept', ipMask: '1.2.3.4/33' }])).status).toBe(400);
    expect((await rules([{ filterName: 'v6', action: 'Accept', ipMask: '::1' }])).status).toBe(400);
    expect((await rules([{ filterName: 'has space', action: 'Accept', ipMask: '1.2.3.4' }])).status).toBe(400);
  });

  it('refuse a rejected address on MQTT, MQTT over WebSockets, AMQP, the device and the service REST APIs — with a 401 that names no rule', async () => {
    expect((await iothub('ip-filter', 'add', '-n', 'BlockFive', '-a', 'Reject', '-m', '127.0.0.5')).code).toBe(0);
    expect((await iothub('ip-filter', 'list')).json()).toEqual([{ filterName: 'BlockFive', action: 'Reject', ipMask: '127.0.0.5' }]);

    expect(await mqttFrom('127.0.0.5')).toBe(5);
    expect(await mqttFrom('127.0.0.6')).toBe(0);

    const service = await curl(['--interface', '127.0.0.5', '-H', `authorization: ${ownerToken()}`, https('/statistics/devices?api-version=2021-04-12')]);
    expect(service.status).toBe(401);
    expect(service.body).not.toMatch(/BlockFive|filter|127\.0\.0\.5/i);
    expect((await curl(['--interface', '127.0.0.6', '-H', `authorization: ${ownerToken()}`, https('/statistics/devices?api-version=2021-04-12')])).status).toBe(200);

    const d = await createDevice('ipf');
    const event = (from: string) => curl(['--interface', from, '-X', 'POST', '-H', `authorization: ${identityToken(d)}`, '--data', 'x', https(`/devices/${d.deviceId}/messages/events?api-version=2021-04-12`)]);
    expect((await event('127.0.0.5')).status).toBe(401);
    expect((await event('127.0.0.6')).status).toBe(204);

    const upgrade = (from: string) =>
      curl(['--interface', from, '--max-time', '2', '--http1.1', '-H', 'Connection: Upgrade', '-H', 'Upgrade: websocket', '-H', 'Sec-WebSocket-Version: 13', '-H', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '-H', 'Sec-WebSocket-Protocol: mqtt', https('/$iothub/websocket')]).catch(
        (err: { stdout?: string }) => ({ status: Number(/^HTTP\/[\d.]+ (\d{3})/m.exec(err.stdout ?? '')?.[1]) }),
      );
    expect((await upgrade('127.0.0.5')).status).toBe(401);
    expect((await upgrade('127.0.0.6')).status).toBe(101);

    expect(await amqpFrom('127.0.0.5')).toBe('amqp:unauthorized-access');
    expect(await amqpFrom('127.0.0.6')).toBe('status 200');

    // the filter's own settings stay reachable from a refused address (the control plane)
    expect((await curl(['--interface', '127.0.0.5', '-H', `authorization: ${ownerToken()}`, https('/settings/ipFilter?api-version=2021-04-12')])).status).toBe(200);
  });

  it('the first matching rule decides: an Accept range before the Reject lets the address in', async () => {
    const set = await rules([
      { filterName: 'AcceptRange', action: 'Accept', ipMask: '127.0.0.4/30' },
      { filterName: 'BlockFive', action: 'Reject', ipMask: '127.0.0.5' },
    ]);
    expect(set.status).toBe(200);
    expect(await mqttFrom('127.0.0.5')).toBe(0);
    const reversed = await rules([
      { filterName: 'BlockFive', action: 'Reject', ipMask: '127.0.0.5' },
      { filterName: 'AcceptRange', action: 'Accept', ipMask: '127.0.0.4/30' },
    ]);
    expect(reversed.status).toBe(200);
    expect(await mqttFrom('127.0.0.5')).toBe(5);
    expect(await mqttFrom('127.0.0.7')).toBe(0);
  });
});
