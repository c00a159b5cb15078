import { context, endWith, injectTrace, SpanKind, trace, tracer, tracingEnabled } from '@openiothub/tracing';
import { randomUUID } from 'node:crypto';
import { encodeD2C, partitionOf, subjects, type LeanJetStreamPublisher } from '@openiothub/bus';
import { DomainError } from '@openiothub/errors';
import type { HubMetrics } from '@openiothub/runtime';
import type { DeviceAuthResult } from '../auth/device-auth.js';
import type { Throttle } from '../throttle/throttle.js';

/** IoT Hub: device-to-cloud messages up to 256 KB (body plus properties). */
export const MAX_D2C_BYTES = 256 * 1024;

/** One message as a transport received it. */
export interface IncomingTelemetry {
  readonly body: Uint8Array;
  readonly system: Readonly<Record<string, string>>;
  readonly application: Readonly<Record<string, string>>;
}

/** What the connection adds to every message it sends; built once per connection by {@link D2CIngest.contextFor}. */
export interface ConnectionContext {
  readonly auth: DeviceAuthResult;
  /** Connection system properties, the same for every message of the connection (anti-spoofing: always the hub's). */
  readonly stamp: Readonly<Record<string, string>>;
  /** The ingest partition subject of this device (routing moves it on to the endpoints). */
  readonly subject: string;
}

function stampOf(auth: DeviceAuthResult, modelId: string | undefined, acceptingIpFilterRule: string | null): Record<string, string> {
  const type = auth.method === 'x509' ? 'x509Certificate' : 'sas';
  const stamp: Record<string, string> = {
    'iothub-connection-device-id': auth.deviceId,
    'iothub-connection-auth-method': JSON.stringify({ scope: auth.scope, type, issuer: auth.issuer ?? 'iothub', acceptingIpFilterRule }),
    'iothub-connection-auth-generation-id': auth.generationId,
    'iothub-message-source': 'Telemetry',
  };
  if (auth.moduleId) stamp['iothub-connection-module-id'] = auth.moduleId;
  if (modelId) stamp['dt-dataschema'] = modelId;
  return stamp;
}

/** IoT Hub distributed tracing: `tracestate=timestamp=<unix seconds>` (protocols-ops §7.6). */
const TRACESTATE = /^timestamp=(\d{1,12})$/;

/**
 * Device-to-cloud ingest, shared by every transport: size check, system properties stamped by the
 * hub (devguide §2.3, anti-spoofing §2.4: connection properties always come from the hub), publish
 * to the hub's D2C partition. Resolves only once JetStream stored the message.
 */
export class D2CIngest {
  readonly #publisher: LeanJetStreamPublisher;
  readonly #maxBytes: number;
  readonly #throttle: Pick<Throttle, 'take' | 'meter'> | undefined;

  readonly #metrics: HubMetrics | undefined;

  constructor(opts: { publisher: LeanJetStreamPublisher; maxBytes?: number; throttle?: Pick<Throttle, 'take' | 'meter'>; hubMetrics?: HubMetrics }) {
    this.#publisher = opts.publisher;
    this.#metrics = opts.hubMetrics;
    this.#maxBytes = opts.maxBytes ?? MAX_D2C_BYTES;
    this.#throttle = opts.throttle;
  }

  /** Size IoT Hub counts: body plus application property names and values. */
  static sizeOf(msg: IncomingTelemetry): number {
    let n = msg.body.length;
    for (const [k, v] of Object.entries(msg.application)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
    for (const [k, v] of Object.entries(msg.system)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
    return n;
  }

  /** The per-connection part of every message (devguide §2.3), computed once at connect; `partitions` is the hub's partition count. */
  contextFor(auth: DeviceAuthResult, modelId: string | undefined, partitions: number, acceptingIpFilterRule: string | null = null): ConnectionContext {
    return { auth, stamp: stampOf(auth, modelId, acceptingIpFilterRule), subject: subjects.ingest(auth.hub, partitionOf(auth.deviceId, partitions)) };
  }

  /** Store one message; Azure's ingress metrics count attempts, successes and throttling errors. */
  async send(ctx: ConnectionContext, msg: IncomingTelemetry, now = new Date()): Promise<void> {
    const hub = ctx.auth.hub;
    this.#metrics?.count('d2c.telemetry.ingress.allProtocol', hub);
    try {
      await this.#store(ctx, msg, now);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'ThrottlingException') this.#metrics?.count('d2c.telemetry.ingress.sendThrottle', hub);
      throw err;
    }
    this.#metrics?.count('d2c.telemetry.ingress.success', hub);
  }

  async #store(ctx: ConnectionContext, msg: IncomingTelemetry, now: Date): Promise<void> {
    const size = D2CIngest.sizeOf(msg);
    if (size > this.#maxBytes) {
      throw new DomainError('MessageTooLarge', `The message is larger than ${this.#maxBytes} bytes.`);
    }
    const { auth } = ctx;
    if (this.#throttle) {
      // the hub's D2C throttle and daily quota (4 KB chunks): nothing is stored, so nothing acknowledged is lost
      await this.#throttle.take(auth.hub, 'd2c');
      await this.#throttle.meter(auth.hub, size);
    }
    const givenId = msg.system['message-id'];
    const system: Record<string, string> = { ...msg.system, ...ctx.stamp, 'iothub-enqueuedtime': now.toISOString() };
    if (!givenId) system['message-id'] = randomUUID();
    // de-duplicate resends of one message id within JetStream's window; hub-made ids are unique anyway
    const msgId = givenId ? `${auth.hub}/${auth.deviceId}/${auth.moduleId ?? ''}/${givenId}` : system['message-id'];
    const { headers, data } = encodeD2C({ body: msg.body, systemProperties: system, applicationProperties: msg.application }, msgId as string);
    if (!tracingEnabled()) return void (await this.#publisher.publish(ctx.subject, data, headers));
    // IoT Hub distributed tracing: the D2C span at the gateway, the bus publish as its child; the
    // trace context rides in the message headers to routing (ingress and egress spans)
    // the property is `tracestate`; the C SDK's MQTT property bag sends it as `$.tracestate`
    const caller = TRACESTATE.exec(msg.application['tracestate'] ?? msg.application['$.tracestate'] ?? '')?.[1];
    const d2c = tracer('gateway').startSpan('DiagnosticIoTHubD2C', {
      kind: SpanKind.SERVER,
      attributes: {
        'iothub.hub': auth.hub,
        'iothub.deviceId': auth.deviceId,
        'iothub.messageSize': size,
        'iothub.calleeLocalTimeUtc': now.toISOString(),
        ...(caller ? { 'iothub.callerLocalTimeUtc': new Date(Number(caller) * 1000).toISOString() } : {}),
      },
    });
    const d2cContext = trace.setSpan(context.active(), d2c);
    const publish = tracer('bus').startSpan(`${ctx.subject} publish`, { kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'nats', 'messaging.destination.name': ctx.subject, 'messaging.operation.type': 'publish' } }, d2cContext);
    injectTrace((k, v) => headers.set(k, v), trace.setSpan(d2cContext, publish));
    await endWith(d2c, endWith(publish, this.#publisher.publish(ctx.subject, data, headers)));
  }
}
