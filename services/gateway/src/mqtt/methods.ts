import type { MethodReply, MethodRequest } from '@openiothub/bus';
import type { Msg } from '@nats-io/transport-node';
import type { MqttConnection } from './connection.js';

/** A method request sent to the device and not yet answered. */
export interface PendingMethod {
  readonly msg: Msg;
  readonly timer: NodeJS.Timeout;
}

function answer(msg: Msg, reply: MethodReply): void {
  msg.respond(JSON.stringify(reply));
}

/**
 * A direct method request from the bus: published to `$iothub/methods/POST/{name}/?$rid={rid}`
 * at QoS 0 with the payload as JSON (`null` when there is none; the SDK parses every payload,
 * sdk-compat §4.6) — only to a connection subscribed to methods, else DeviceNotOnline.
 */
export function deliverMethodRequest(conn: MqttConnection, msg: Msg): void {
  const est = conn.established;
  let req: MethodRequest;
  try {
    req = msg.json<MethodRequest>();
  } catch {
    return answer(msg, { error: 'ArgumentInvalid', message: 'Malformed method request.' });
  }
  if (!est || conn.closed || !est.subscriptions.has('methods')) {
    return answer(msg, { error: 'DeviceNotOnline', message: 'The device is connected but has not subscribed to direct methods.' });
  }
  const rid = conn.nextRequestId();
  // the requester stops waiting after its timeout; forget the request a little later
  const timer = setTimeout(() => conn.pendingMethods.delete(rid), req.responseTimeoutInSeconds * 1000 + 5000);
  timer.unref();
  conn.pendingMethods.set(rid, { msg, timer });
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
  const pending = conn.pendingMethods.get(rid);
  if (!pending) return;
  conn.pendingMethods.delete(rid);
  clearTimeout(pending.timer);
  let payload: unknown = null;
  if (body.length > 0) {
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      return answer(pending.msg, { error: 'BadDeviceResponse', message: 'The device answered with a payload that is not JSON.' });
    }
  }
  answer(pending.msg, { status, payload });
}

/** The connection closed: tell every caller still waiting that the device went away. */
export function abandonMethods(conn: MqttConnection): void {
  for (const [rid, p] of conn.pendingMethods) {
    clearTimeout(p.timer);
    answer(p.msg, { error: 'DeviceNotOnline', message: 'The device disconnected before answering.' });
    conn.pendingMethods.delete(rid);
  }
}
