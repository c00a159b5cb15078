import { DomainError } from '@openiothub/errors';
import type { IPublishPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { handleMethodResponse } from './methods.js';
import { handleReportedPatch, handleTwinGet } from './twin.js';
import { classifyPublish, parsePropertyBag } from './topics.js';

/** A QoS 1 telemetry PUBLISH waiting for JetStream before its PUBACK may go out. */
export interface PendingAck {
  readonly messageId: number;
  done: boolean;
}

/**
 * PUBLISH from a device. Telemetry is acknowledged only after JetStream stored it, in arrival
 * order. QoS 2, another identity's topic, a malformed property bag or an oversized message
 * close the connection: "MQTT terminates the connection" (protocols-ops §1.2).
 */
export function handlePublish(conn: MqttConnection, p: IPublishPacket): void {
  const est = conn.established;
  if (!est) return;
  if (p.qos === 2) return conn.close('protocol-violation', 'QoS 2 is not supported');
  const body = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  const target = classifyPublish(p.topic, est.identity);
  if (target.kind === 'telemetry') return telemetry(conn, p, target.bag, body);
  if (target.kind === 'forbidden') return conn.close('protocol-violation', `publish to a topic this identity may not use: ${p.topic}`);
  // requests (twin, method answers) are acknowledged on receipt when sent at QoS 1, in order with telemetry
  if (p.qos === 1) {
    conn.pendingAcks.push({ messageId: p.messageId as number, done: true });
    flushAcks(conn);
  }
  switch (target.kind) {
    case 'twin-get':
      return handleTwinGet(conn, target.rid);
    case 'twin-patch-reported':
      return handleReportedPatch(conn, target.rid, body);
    case 'method-response':
      return handleMethodResponse(conn, target.status, target.rid, body);
    case 'stream-response':
      // the answer carries no payload: only the status counts
      return handleMethodResponse(conn, target.status, target.rid, Buffer.alloc(0));
  }
}

function telemetry(conn: MqttConnection, p: IPublishPacket, rawBag: string, body: Buffer): void {
  const est = conn.established!;
  const { deps } = conn;
  const bag = parsePropertyBag(rawBag);
  if (!bag) return conn.close('protocol-violation', 'malformed property bag');
  // IoT Hub does not keep retained messages; it marks them (protocols-ops §1.5)
  const application = p.retain ? { ...bag.application, 'x-opt-retain': 'true' } : bag.application;
  let entry: PendingAck | undefined;
  if (p.qos === 1) {
    entry = { messageId: p.messageId as number, done: false };
    conn.pendingAcks.push(entry);
    if (conn.pendingAcks.length >= deps.maxInFlight) conn.pause();
  }
  deps.ingest.send(est.telemetry, { body, system: bag.system, application }).then(
    () => {
      deps.metrics.d2cMessages.inc({ transport: conn.transport });
      deps.reporter.activity(est.auth.hub, est.auth.deviceId, est.auth.moduleId, new Date());
      if (entry) {
        entry.done = true;
        flushAcks(conn);
      }
    },
    (err: unknown) => {
      if (err instanceof DomainError && err.code === 'MessageTooLarge') return conn.close('protocol-violation', err.message);
      deps.log.warn({ category: 'DeviceTelemetry', err, hub: est.auth.hub, deviceId: est.auth.deviceId }, 'telemetry not stored; closing so the device resends');
      conn.close('telemetry-failed');
    },
  );
}

function flushAcks(conn: MqttConnection): void {
  const q = conn.pendingAcks;
  while (q.length > 0 && q[0]!.done) conn.send({ cmd: 'puback', messageId: q.shift()!.messageId });
  if (q.length < conn.deps.maxInFlight / 2) conn.resume();
}
