import type { Msg } from '@nats-io/transport-node';
import { PendingMethods } from '../methods/pending.js';
import type { MqttConnection } from './connection.js';

/**
 * A direct method request from the bus: published to `$iothub/methods/POST/{name}/?$rid={rid}`
 * at QoS 0 with the payload as JSON (`null` when there is none; the SDK parses every payload,
 * sdk-compat §4.6) — only to a connection subscribed to methods, else DeviceNotOnline.
 */
export function deliverMethodRequest(conn: MqttConnection, msg: Msg): void {
  const req = PendingMethods.parse(msg);
  if (!req) return;
  const est = conn.established;
  if (!est || conn.closed || !est.subscriptions.has('methods')) {
    return PendingMethods.notOnline(msg, 'The device is connected but has not subscribed to direct methods.');
  }
  const rid = conn.nextRequestId();
  conn.pendingMethods.add(rid, msg, req);
  conn.send({
    cmd: 'publish',
    topic: `$iothub/methods/POST/${req.methodName}/?$rid=${rid}`,
    payload: JSON.stringify(req.payload ?? null),
    qos: 0,
    retain: false,
    dup: false,
  });
}

/** The device's answer on `$iothub/methods/res/{status}/?$rid={rid}`; unknown or late rids are ignored. */
export function handleMethodResponse(conn: MqttConnection, status: number, rid: string, body: Buffer): void {
  conn.pendingMethods.resolve(rid, status, body);
}
