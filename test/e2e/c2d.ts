import { expect } from 'vitest';
import { Client as DeviceClient, type Message } from 'azure-iot-device';
import type { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import type { Http } from 'azure-iot-device-http';
import type { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { NoRetry } from 'azure-iot-common';
import type { TestIdentity } from './devices.js';
import { hubFetch, poll } from './helpers.js';

/** Any device transport of azure-iot-device. */
export type DeviceTransport = typeof Mqtt | typeof MqttWs | typeof Http | typeof Amqp | typeof AmqpWs;
export type ReceivedMessage = InstanceType<typeof Message>;

/** A device client on `Transport` that records every C2D message (and settles it with `settle`). */
export async function c2dReceiver(d: TestIdentity, Transport: DeviceTransport, settle?: (c: DeviceClient, m: ReceivedMessage) => Promise<unknown>) {
  const client = DeviceClient.fromConnectionString(d.connectionString, Transport);
  client.setRetryPolicy(new NoRetry());
  const got: ReceivedMessage[] = [];
  client.on('message', (m: ReceivedMessage) => {
    got.push(m);
    if (settle) void settle(client, m);
  });
  await client.open();
  return { client, got, waitFor: (n: number, ms = 15_000) => poll(async () => got.length, (k) => k >= n, ms, `${n} C2D message(s)`) };
}

/** Send a C2D message through the service REST endpoint; `headers` carry its properties. */
export async function sendC2D(deviceId: string, body: string | Buffer, headers: Record<string, string> = {}, path = `/devices/${encodeURIComponent(deviceId)}/messages/devicebound`): Promise<Response> {
  return hubFetch(path, { method: 'POST', body, headers });
}

/** Send and expect success; resolves `{messageId, sequenceNumber}`. */
export async function sendC2DOk(deviceId: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<{ messageId: string; sequenceNumber: number }> {
  const res = await sendC2D(deviceId, body, headers);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { messageId: string; sequenceNumber: number };
}

export interface FeedbackRecord {
  originalMessageId: string;
  description: string;
  statusCode: string;
  deviceId: string;
  deviceGenerationId: string;
  enqueuedTimeUtc: string;
}

/**
 * Reads the hub's feedback queue over REST (completing what it reads) and keeps every record, so
 * tests sharing the hub each find their own by message id.
 */
export class FeedbackReader {
  readonly records: FeedbackRecord[] = [];
  readonly contentTypes = new Set<string>();
  readonly userIds = new Set<string>();

  async drain(): Promise<void> {
    for (;;) {
      const res = await hubFetch('/messages/serviceBound/feedback');
      if (res.status === 204) return;
      expect(res.status).toBe(200);
      this.contentTypes.add(res.headers.get('content-type') ?? '');
      this.userIds.add(res.headers.get('iothub-userid') ?? '');
      const lock = (res.headers.get('etag') ?? '').slice(1, -1);
      this.records.push(...((await res.json()) as FeedbackRecord[]));
      const done = await hubFetch(`/messages/serviceBound/feedback/${lock}`, { method: 'DELETE' });
      expect(done.status).toBe(204);
    }
  }

  /** The records about `messageId`, once at least `n` arrived. */
  async about(messageId: string, n = 1, ms = 15_000): Promise<FeedbackRecord[]> {
    const mine = () => this.records.filter((r) => r.originalMessageId === messageId);
    await poll(async () => (await this.drain(), mine().length), (k) => k >= n, ms, `${n} feedback record(s) for ${messageId}`);
    return mine();
  }
}
