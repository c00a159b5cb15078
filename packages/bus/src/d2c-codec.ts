import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/**
 * A device-to-cloud message as it travels through JetStream: the body bytes untouched, the
 * system properties (`message-id`, `iothub-connection-device-id`, …) and the application
 * properties kept apart, as IoT Hub's built-in endpoint presents them.
 */
export interface D2CMessage {
  readonly body: Uint8Array;
  readonly systemProperties: Readonly<Record<string, string>>;
  readonly applicationProperties: Readonly<Record<string, string>>;
}

/** Header holding both property maps as JSON: property names and values may be any UTF-8, which NATS header keys cannot. */
const PROPS_HEADER = 'Iothub-Props';
/** Header with the device id, for cheap filtering without parsing the props. */
const DEVICE_HEADER = 'Iothub-Connection-Device-Id';

/** Encode for publishing; `msgId` becomes `Nats-Msg-Id` (JetStream de-duplication). */
export function encodeD2C(msg: D2CMessage, msgId: string): { headers: MsgHdrs; data: Uint8Array } {
  const h = natsHeaders();
  h.set('Nats-Msg-Id', msgId);
  h.set(DEVICE_HEADER, msg.systemProperties['iothub-connection-device-id'] ?? '');
  h.set(PROPS_HEADER, JSON.stringify({ s: msg.systemProperties, a: msg.applicationProperties }));
  return { headers: h, data: msg.body };
}

/** Decode a message read from the D2C stream. */
export function decodeD2C(headers: MsgHdrs | undefined, data: Uint8Array): D2CMessage {
  const raw = headers?.get(PROPS_HEADER);
  const props = raw ? (JSON.parse(raw) as { s?: Record<string, string>; a?: Record<string, string> }) : {};
  return { body: data, systemProperties: props.s ?? {}, applicationProperties: props.a ?? {} };
}
