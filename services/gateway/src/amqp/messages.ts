import rhea, { type Message } from 'rhea';
import type { messagingV1 } from '@openiothub/proto';
import type { IncomingTelemetry } from '../telemetry/d2c-ingest.js';

/** An AMQP data-section body, a string, or any other value (JSON), as bytes. */
export function bodyBytes(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  const section = body as { typecode?: number; content?: unknown; multiple?: boolean };
  if (section.typecode === 0x75) {
    const parts = section.multiple ? (section.content as Buffer[]) : [section.content as Buffer];
    return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(String(p)))));
  }
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  return Buffer.from(JSON.stringify(body), 'utf8');
}

/** message-id / correlation-id may be strings, numbers or AMQP uuids (16 bytes): the string form. */
export function idString(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Buffer.isBuffer(v)) return v.length === 16 ? rhea.uuid_to_string(v) : v.toString('utf8');
  return String(v);
}

function timeString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const t = v instanceof Date ? v : new Date(Number(v));
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

function stringMap(o: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o ?? {})) if (v !== undefined && v !== null) out[k] = Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
  return out;
}

/** Message annotations a device may set that IoT Hub keeps as system properties. */
const DEVICE_ANNOTATIONS = ['iothub-interface-id', 'dt-subject', 'dt-dataschema'];

/** Device telemetry from an AMQP message (sdk-compat §7): AMQP properties are system properties, application properties stay. */
export function telemetryFromAmqp(m: Message): IncomingTelemetry {
  const system: Record<string, string> = {};
  const set = (k: string, v: string | undefined) => {
    if (v) system[k] = v;
  };
  set('message-id', idString(m.message_id));
  set('correlation-id', idString(m.correlation_id));
  set('user-id', idString(m.user_id));
  set('content-type', m.content_type);
  set('content-encoding', m.content_encoding);
  set('absolute-expiry-time', timeString(m.absolute_expiry_time));
  const annotations = stringMap(m.message_annotations as Record<string, unknown> | undefined);
  for (const k of DEVICE_ANNOTATIONS) set(k, annotations[k]);
  const application = stringMap(m.application_properties as Record<string, unknown> | undefined);
  // output events name their output in an application property (sdk-compat §7)
  if (application['iothub-outputname']) {
    system['iothub-outputname'] = application['iothub-outputname'];
    delete application['iothub-outputname'];
  }
  return { body: bodyBytes(m.body), system, application };
}

/** A service C2D message from an AMQP message (sdk-compat §8.2); the queue it goes to comes from `to`. */
export function c2dFromAmqp(m: Message): messagingV1.C2DMessage {
  const app = stringMap(m.application_properties as Record<string, unknown> | undefined);
  const ack = (app['iothub-ack'] ?? 'none').toLowerCase();
  delete app['iothub-ack'];
  const expiry = timeString(m.absolute_expiry_time);
  return {
    body: bodyBytes(m.body),
    messageId: idString(m.message_id),
    correlationId: idString(m.correlation_id),
    userId: idString(m.user_id),
    ack,
    contentType: m.content_type ?? '',
    contentEncoding: m.content_encoding ?? '',
    properties: app,
    to: '',
    expiryTime: expiry ? new Date(expiry) : undefined,
    enqueuedTime: undefined,
    sequenceNumber: 0,
    deliveryCount: 0,
    lockToken: '',
    inputName: '',
  };
}

/** A C2D message as the device receives it over AMQP; module input messages carry `x-opt-input-name`. */
export function c2dToAmqp(m: messagingV1.C2DMessage): Message {
  const out: Message = {
    body: rhea.message.data_section(m.body),
    message_id: m.messageId,
    to: m.to,
    application_properties: { ...m.properties, ...(m.ack && m.ack !== 'none' ? { 'iothub-ack': m.ack } : {}) },
    message_annotations: {
      'iothub-enqueuedtime': m.enqueuedTime ?? new Date(),
      'iothub-deliverycount': m.deliveryCount,
      'x-opt-sequence-number': m.sequenceNumber,
      ...(m.inputName ? { 'x-opt-input-name': m.inputName } : {}),
    },
  };
  if (m.correlationId) out.correlation_id = m.correlationId;
  if (m.userId) out.user_id = m.userId;
  if (m.contentType) out.content_type = m.contentType;
  if (m.contentEncoding) out.content_encoding = m.contentEncoding;
  if (m.expiryTime) out.absolute_expiry_time = m.expiryTime;
  return out;
}
