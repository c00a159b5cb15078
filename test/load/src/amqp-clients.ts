import rhea, { type Connection, type EventContext, type Sender } from 'rhea';
import { createSasToken } from '@openiothub/auth';
import { KEY, type BenchHub } from './harness.js';

/** A raw AMQP connection to the bench hub (no SASL, as the IoT SDKs connect). */
export async function amqpConnect(h: BenchHub): Promise<Connection> {
  const conn = rhea.create_container().connect({ host: 'localhost', hostname: 'localhost', port: h.amqpPort, transport: 'tls', ca: h.ca, servername: 'localhost', reconnect: false } as never);
  await new Promise<void>((resolve, reject) => {
    conn.once('connection_open', () => resolve());
    conn.once('disconnected', (ctx: EventContext) => reject(new Error(`AMQP connect failed: ${String(ctx.error)}`)));
  });
  return conn;
}

/** CBS put-token on an open connection; rejects unless the hub answers 200. */
export async function putToken(conn: Connection, audience: string, token: string): Promise<void> {
  const reply = conn.open_receiver({ source: { address: '$cbs' } });
  const sender = conn.open_sender({ target: { address: '$cbs' } });
  await new Promise((r) => sender.once('sendable', r));
  const status = await new Promise<number>((resolve) => {
    reply.once('message', (ctx: EventContext) => resolve(Number((ctx.message!.application_properties as Record<string, unknown>)['status-code'])));
    sender.send({ body: token, to: '$cbs', reply_to: 'cbs', message_id: rhea.generate_uuid(), application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience } });
  });
  if (status !== 200) throw new Error(`put-token for ${audience}: ${status}`);
}

/** A device's telemetry sender over AMQP (bench devices all share {@link KEY}). */
export async function amqpDevice(h: BenchHub, deviceId: string): Promise<{ conn: Connection; sender: Sender }> {
  const conn = await amqpConnect(h);
  await putToken(conn, `localhost/devices/${deviceId}`, createSasToken({ resourceUri: `localhost/devices/${deviceId}`, key: KEY, expiry: Math.floor(Date.now() / 1000) + 7200 }));
  const sender = conn.open_sender({ target: { address: `/devices/${deviceId}/messages/events` } });
  await new Promise((r) => sender.once('sendable', r));
  return { conn, sender };
}
