import type { DeviceMessage } from '../session/presence.js';
import { PendingMethods } from '../methods/pending.js';
import type { MqttConnection } from './connection.js';

/**
 * A direct method request from the bus: published to `$iothub/methods/POST/{name}/?$rid={rid}`
 * at QoS 0 with the payload as JSON (`null` when there is none; the SDK parses every payload,
 * sdk-compat §4.6) — only to a connection subscribed to methods, else DeviceNotOnline.
 */
export function deliverMethodRequest(conn: MqttConnection, msg: DeviceMessage): void {
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

/**
 * A device-stream request from the bus (seeds-protocols-ops §2.3): published at QoS 0, empty
 * payload, to `$iothub/streams/POST/{streamName}/?$rid=&$url=&$auth=` — only to a device
 * subscribed to `$iothub/streams/POST/#`. The device answers on `$iothub/streams/res/{status}/?$rid=`.
 */
export function deliverStreamRequest(conn: MqttConnection, msg: DeviceMessage): void {
  const req = PendingMethods.parse(msg);
  if (!req) return;
  const est = conn.established;
  if (!est || conn.closed || !est.subscriptions.has('streams')) {
    return PendingMethods.notOnline(msg, 'The device is connected but has not subscribed to device streams.');
  }
  const target = req.payload as { url?: string; auth?: string } | null;
  const rid = conn.nextRequestId();
  conn.pendingMethods.add(rid, msg, req);
  conn.send({
    cmd: 'publish',
    topic: `$iothub/streams/POST/${req.methodName}/?$rid=${rid}&$url=${encodeURIComponent(target?.url ?? '')}&$auth=${encodeURIComponent(target?.auth ?? '')}`,
    payload: Buffer.alloc(0),
    qos: 0,
    retain: false,
    dup: false,
  });
}
