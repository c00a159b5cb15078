import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import rhea, { type Connection, type EventContext, type Message } from 'rhea';
import { Message as DeviceMessage, ModuleClient } from 'azure-iot-device';
import { Amqp } from 'azure-iot-device-amqp';
import { collectTelemetry, createDevice, createModule, identityToken } from './devices.js';
import { hub, ownerToken, poll } from './helpers.js';
import { sendC2D } from './c2d.js';

/** A raw rhea connection to the hub's AMQP port, no SASL, as the IoT SDKs connect. */
async function connect(): Promise<Connection> {
  const container = rhea.create_container();
  const conn = container.connect({ host: 'localhost', hostname: 'localhost', port: hub().ports.amqp, transport: 'tls', ca: readFileSync(hub().caCertPath), servername: 'localhost', reconnect: false } as never);
  await new Promise<void>((resolve, reject) => {
    conn.once('connection_open', () => resolve());
    conn.once('connection_error', (ctx: EventContext) => reject(new Error(String(ctx.connection.error))));
    conn.once('disconnected', (ctx: EventContext) => reject(new Error(`disconnected: ${String(ctx.error)}`)));
  });
  return conn;
}

/** Put a token on $cbs; resolves the status code of the answer. */
async function putToken(conn: Connection, audience: string, token: string): Promise<number> {
  const reply = conn.open_receiver({ source: { address: '$cbs' } });
  const sender = conn.open_sender({ target: { address: '$cbs' } });
  await new Promise((r) => sender.once('sendable', r));
  const answered = new Promise<Message>((r) => reply.once('message', (ctx: EventContext) => r(ctx.message!)));
  sender.send({ body: token, to: '$cbs', reply_to: 'cbs', message_id: rhea.generate_uuid(), application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience } });
  const m = await answered;
  return Number((m.application_properties as Record<string, unknown>)['status-code']);
}

/** Attach a link; resolves the error condition it was closed with, or 'open' if it stays open. */
function attachOutcome(open: () => ReturnType<Connection['open_sender']> | ReturnType<Connection['open_receiver']>, settleMs = 500): Promise<string> {
  return new Promise((resolve) => {
    const link = open();
    link.once('sender_close', (ctx: EventContext) => resolve(String((ctx.sender as unknown as { error?: { condition?: string } }).error?.condition ?? 'closed')));
    link.once('receiver_close', (ctx: EventContext) => resolve(String((ctx.receiver as unknown as { error?: { condition?: string } }).error?.condition ?? 'closed')));
    setTimeout(() => resolve('open'), settleMs);
  });
}

describe('AMQP: raw clients and bad input', () => {
  it('answers put-token 200 for a good token and 401 for a bad one, and keeps the connection', async () => {
    const d = await createDevice('amqpcbs');
    const conn = await connect();
    const audience = `${hub().hostName}/devices/${d.deviceId}`;
    expect(await putToken(conn, audience, identityToken({ ...d, key: Buffer.alloc(32, 1).toString('base64') }))).toBe(401);
    expect(await putToken(conn, audience, 'SharedAccessSignature garbage')).toBe(401);
    // a good token put for another device's audience
    const other = await createDevice('amqpother');
    expect(await putToken(conn, `${hub().hostName}/devices/${other.deviceId}`, identityToken(d))).toBe(401);
    expect(await putToken(conn, audience, identityToken(d))).toBe(200);
    conn.close();
  });

  it('closes links to addresses the token does not cover, or that do not exist', async () => {
    const a = await createDevice('amqpa');
    const b = await createDevice('amqpb');
    const conn = await connect();
    expect(await putToken(conn, `${hub().hostName}/devices/${a.deviceId}`, identityToken(a))).toBe(200);
    expect(await attachOutcome(() => conn.open_sender({ target: { address: `/devices/${b.deviceId}/messages/events` } }))).toBe('amqp:unauthorized-access');
    expect(await attachOutcome(() => conn.open_receiver({ source: { address: `/devices/${b.deviceId}/messages/devicebound` } }))).toBe('amqp:unauthorized-access');
    expect(await attachOutcome(() => conn.open_sender({ target: { address: '/messages/devicebound' } }))).toBe('amqp:unauthorized-access');
    expect(await attachOutcome(() => conn.open_sender({ target: { address: '/nowhere/at/all' } }))).toBe('amqp:not-found');
    expect(await attachOutcome(() => conn.open_sender({ target: { address: `/devices/${a.deviceId}/messages/events` } }))).toBe('open');
    conn.close();
  });

  it('rejects telemetry over 256 KB with amqp:link:message-size-exceeded and a service C2D without a valid `to`', async () => {
    const d = await createDevice('amqpbig');
    const conn = await connect();
    expect(await putToken(conn, `${hub().hostName}/devices/${d.deviceId}`, identityToken(d))).toBe(200);
    const sender = conn.open_sender({ target: { address: `/devices/${d.deviceId}/messages/events` } });
    await new Promise((r) => sender.once('sendable', r));
    const outcome = new Promise<string>((resolve) => {
      sender.once('rejected', (ctx: EventContext) => resolve(String((ctx.delivery as unknown as { remote_state?: { error?: { condition?: string } } }).remote_state?.error?.condition)));
      sender.once('accepted', () => resolve('accepted'));
    });
    sender.send({ body: rhea.message.data_section(Buffer.alloc(256 * 1024 + 1, 'a')) });
    expect(await outcome).toBe('amqp:link:message-size-exceeded');

    const svc = await connect();
    expect(await putToken(svc, hub().hostName, ownerToken())).toBe(200);
    const c2d = svc.open_sender({ target: { address: '/messages/devicebound' } });
    await new Promise((r) => c2d.once('sendable', r));
    const refused = new Promise<string>((resolve) => {
      c2d.once('rejected', (ctx: EventContext) => resolve(String((ctx.delivery as unknown as { remote_state?: { error?: { condition?: string } } }).remote_state?.error?.condition)));
      c2d.once('accepted', () => resolve('accepted'));
    });
    c2d.send({ body: rhea.message.data_section(Buffer.from('x')), to: '/somewhere/else' });
    expect(await refused).toBe('amqp:invalid-field');
    conn.close();
    svc.close();
  });

  it('a module client on AMQP sends output telemetry and receives input messages', async () => {
    const telemetry = await collectTelemetry();
    try {
      const d = await createDevice('amqpmod');
      const m = await createModule(d.deviceId, 'filter');
      const client = ModuleClient.fromConnectionString(m.connectionString, Amqp);
      const inputs: Array<[string, string]> = [];
      client.on('inputMessage', (input: string, msg: InstanceType<typeof DeviceMessage>) => {
        inputs.push([input, msg.data.toString()]);
        void client.complete(msg);
      });
      await client.open();
      await client.sendOutputEvent('out1', new DeviceMessage('from the module'));
      const got = await telemetry.waitFor((e) => e.systemProperties['iothub-connection-module-id'] === 'filter' && e.systemProperties['iothub-connection-device-id'] === d.deviceId);
      expect(got.systemProperties['iothub-outputname']).toBe('out1');
      const res = await sendC2D(d.deviceId, 'to input1', { 'iothub-inputname': 'input1' }, `/devices/${d.deviceId}/modules/filter/messages/devicebound`);
      expect(res.status).toBe(200);
      await poll(async () => inputs.length, (n) => n === 1);
      expect(inputs).toEqual([['input1', 'to input1']]);
      await client.close();
    } finally {
      await telemetry.stop();
    }
  });

  it('cuts a connection that announces a frame larger than the 64 KB it advertised, and stays up', async () => {
    const { connect: tlsConnect } = await import('node:tls');
    const socket = tlsConnect({ host: '127.0.0.1', port: hub().ports.amqp, servername: 'localhost', ca: readFileSync(hub().caCertPath) });
    await new Promise((r) => socket.once('secureConnect', r));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(1 << 30, 0); // announce a 1 GiB frame
    socket.write(Buffer.concat([Buffer.from('AMQP\x00\x01\x00\x00', 'latin1'), huge, Buffer.alloc(1024)]));
    await closed;
    // the endpoint still serves others
    const conn = await connect();
    const d = await createDevice('amqpafter');
    expect(await putToken(conn, `${hub().hostName}/devices/${d.deviceId}`, identityToken(d))).toBe(200);
    conn.close();
  });

  it('a C2D receiver link closed with a delivery unsettled hands it back at once (no wait for the lock)', async () => {
    const d = await createDevice('amqprelink');
    const conn = await connect();
    expect(await putToken(conn, `${hub().hostName}/devices/${d.deviceId}`, identityToken(d))).toBe(200);
    const res = await sendC2D(d.deviceId, 'hold me', { 'iothub-messageid': 'held-1' });
    expect(res.status).toBe(200);
    const first = conn.open_receiver({ source: { address: `/devices/${d.deviceId}/messages/devicebound` }, autoaccept: false });
    const got = await new Promise<Message>((r) => first.once('message', (ctx: EventContext) => r(ctx.message!)));
    expect(got.message_id).toBe('held-1');
    first.close();
    const t0 = Date.now();
    const second = conn.open_receiver({ source: { address: `/devices/${d.deviceId}/messages/devicebound` }, autoaccept: false });
    const again = await new Promise<{ m: Message; accept: () => void }>((r) => second.once('message', (ctx: EventContext) => r({ m: ctx.message!, accept: () => ctx.delivery!.accept() })));
    expect(again.m.message_id).toBe('held-1');
    // well before the test hub's 3 s lock would have expired
    expect(Date.now() - t0).toBeLessThan(2500);
    again.accept();
    conn.close();
  });

  it('closes the links that rely on a token when it expires without renewal', async () => {
    const d = await createDevice('amqpexp');
    const conn = await connect();
    expect(await putToken(conn, `${hub().hostName}/devices/${d.deviceId}`, identityToken(d, 2))).toBe(200);
    const sender = conn.open_sender({ target: { address: `/devices/${d.deviceId}/messages/events` } });
    const closed = new Promise<string>((resolve) =>
      sender.once('sender_close', (ctx: EventContext) => resolve(String((ctx.sender as unknown as { error?: { condition?: string } }).error?.condition))),
    );
    await new Promise((r) => sender.once('sendable', r));
    expect(await closed).toBe('amqp:unauthorized-access');
    conn.close();
  });
});
