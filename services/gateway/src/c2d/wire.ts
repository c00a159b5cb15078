import type { messagingV1 } from '@openiothub/proto';
import { headerValue } from '../http/message-headers.js';

type C2DMessage = messagingV1.C2DMessage;

/** The `$.`-keys of the system properties a C2D property bag carries (sdk-compat §4.4). */
function systemPairs(m: C2DMessage): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  const add = (k: string, v: string | undefined) => {
    if (v) pairs.push([k, v]);
  };
  add('$.mid', m.messageId);
  add('$.to', m.to);
  add('$.exp', m.expiryTime?.toISOString());
  add('$.cid', m.correlationId);
  add('$.uid', m.userId);
  add('$.ct', m.contentType);
  add('$.ce', m.contentEncoding);
  return pairs;
}

/**
 * The property bag of a C2D delivery over MQTT: user-settable system properties with `$.` keys,
 * `iothub-ack` when feedback is asked for, then the application properties; every key and value
 * percent-encoded so `/`, `&` and `=` never break the topic (the SDK splits on them).
 */
export function c2dPropertyBag(m: C2DMessage): string {
  const pairs = systemPairs(m);
  if (m.ack && m.ack !== 'none') pairs.push(['iothub-ack', m.ack]);
  for (const [k, v] of Object.entries(m.properties)) pairs.push([k, v]);
  return pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
}

/** The MQTT topic of a delivery: `devices/{d}/messages/devicebound/{bag}` or `devices/{d}/modules/{m}/inputs/{input}/{bag}`. */
export function c2dTopic(deviceId: string, moduleId: string | undefined, m: C2DMessage): string {
  const bag = c2dPropertyBag(m);
  return moduleId ? `devices/${deviceId}/modules/${moduleId}/inputs/${m.inputName}/${bag}` : `devices/${deviceId}/messages/devicebound/${bag}`;
}

/** Response headers of an HTTP C2D receive (sdk-compat §5): the quoted lock token as ETag, `iothub-*`, `iothub-app-*`. */
export function c2dHttpHeaders(m: C2DMessage): Record<string, string> {
  const h: Record<string, string> = {
    etag: `"${m.lockToken}"`,
    'iothub-messageid': headerValue(m.messageId),
    'iothub-to': headerValue(m.to),
    'iothub-sequencenumber': String(m.sequenceNumber),
    'iothub-deliverycount': String(m.deliveryCount),
  };
  if (m.expiryTime) h['iothub-expiry'] = m.expiryTime.toISOString();
  if (m.enqueuedTime) h['iothub-enqueuedtime'] = m.enqueuedTime.toISOString();
  if (m.correlationId) h['iothub-correlationid'] = headerValue(m.correlationId);
  if (m.userId) h['iothub-userid'] = headerValue(m.userId);
  if (m.ack && m.ack !== 'none') h['iothub-ack'] = m.ack;
  if (m.contentType) h['iothub-contenttype'] = headerValue(m.contentType);
  if (m.contentEncoding) h['iothub-contentencoding'] = headerValue(m.contentEncoding);
  for (const [k, v] of Object.entries(m.properties)) h[`iothub-app-${k}`] = headerValue(v);
  return h;
}
