import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.js';
import { classifySubscription } from './topics.js';

/** SUBACK return code for a filter IoT Hub does not support (MQTT 3.1.1 §3.9.3). */
const FAILURE = 0x80;

/**
 * SUBSCRIBE: only IoT Hub's filters for this identity are granted, at most QoS 1 (a QoS 2
 * request is granted 1, protocols-ops §1.6); any other filter gets 0x80, and so does every filter
 * on a Basic-tier hub (protocols-ops §0.1, A-1). A persistent session
 * stores the set before SUBACK, so a reconnect elsewhere finds it.
 */
export async function handleSubscribe(conn: MqttConnection, p: ISubscribePacket): Promise<void> {
  const est = conn.established;
  if (!est) return;
  const granted: number[] = [];
  let changed = false;
  // every subscription IoT Hub offers (C2D, twins, methods, streams, module inputs) is a standard-tier feature
  let basic: boolean;
  try {
    basic = await conn.deps.throttle.isBasicTier(est.auth.hub);
  } catch {
    basic = false; // the registry is unreachable: the tier is checked again on the next SUBSCRIBE
  }
  for (const s of p.subscriptions) {
    const kind = basic ? undefined : classifySubscription(s.topic, est.identity);
    if (!kind) {
      granted.push(FAILURE);
      continue;
    }
    granted.push(Math.min(s.qos, 1));
    if (!est.subscriptions.has(kind)) {
      est.subscriptions.add(kind);
      changed = true;
    }
  }
  if (!(await persist(conn, changed))) return;
  conn.send({ cmd: 'suback', messageId: p.messageId, granted });
  conn.syncC2D();
}

/** UNSUBSCRIBE: drop the subscriptions named; unknown filters are ignored. */
export async function handleUnsubscribe(conn: MqttConnection, p: IUnsubscribePacket): Promise<void> {
  const est = conn.established;
  if (!est) return;
  let changed = false;
  for (const filter of p.unsubscriptions) {
    const kind = classifySubscription(filter, est.identity);
    if (kind && est.subscriptions.delete(kind)) changed = true;
  }
  if (!(await persist(conn, changed))) return;
  conn.send({ cmd: 'unsuback', messageId: p.messageId, granted: [] });
  conn.syncC2D();
}

async function persist(conn: MqttConnection, changed: boolean): Promise<boolean> {
  const est = conn.established!;
  if (!changed || est.cleanSession) return true;
  try {
    await conn.deps.sessions.save(est.auth.hub, est.clientId, est.subscriptions);
    return true;
  } catch (err) {
    conn.deps.log.warn({ category: 'Connections', err, hub: est.auth.hub, deviceId: est.auth.deviceId }, 'session not saved; closing');
    conn.close('server-shutdown', 'session store unavailable');
    return false;
  }
}
