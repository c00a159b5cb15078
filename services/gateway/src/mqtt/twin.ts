import type { DeviceMessage } from '../session/presence.js';
import { headers } from '@openiothub/bus';
import { toDomainError } from '@openiothub/errors';
import type { MqttConnection } from './connection.js';

/** Publish a twin response; it reaches only a connection subscribed to `$iothub/twin/res/#`. */
function respond(conn: MqttConnection, status: number, rid: string, body: string, version?: number): void {
  if (!conn.established?.subscriptions.has('twin-responses')) return;
  conn.send({
    cmd: 'publish',
    topic: `$iothub/twin/res/${status}/?$rid=${rid}${version === undefined ? '' : `&$version=${version}`}`,
    payload: body,
    qos: 0,
    retain: false,
    dup: false,
  });
}

/** Errors as the SDK reads them: a JSON body with `errorCode` and `message` (sdk-compat §4.5). */
function respondError(conn: MqttConnection, rid: string, err: unknown): void {
  const e = toDomainError(err);
  if (e.code === 'ServerError' || e.code === 'ServiceUnavailable') conn.deps.log.warn({ category: 'D2CTwinOperations', err: e.cause ?? e }, 'twin request failed');
  respond(conn, e.spec.http, rid, JSON.stringify({ errorCode: e.spec.numeric, message: e.message }));
}

function deviceContext(conn: MqttConnection) {
  const est = conn.established!;
  return {
    key: { hub: est.auth.hub, deviceId: est.auth.deviceId, moduleId: est.auth.moduleId ?? '' },
    generationId: est.auth.generationId,
    modelId: est.modelId ?? '',
  };
}

/**
 * One twin request of a device (protocols-ops §1.4): standard tier, the hub's throttle and daily
 * quota, then `work`; the answer on the response topic, metered in 512-byte chunks of `bytes`, and
 * counted in Azure's `d2c.twin.{read|update}` metrics.
 */
function twinRequest<R>(conn: MqttConnection, rid: string, kind: 'read' | 'update', work: (device: ReturnType<typeof deviceContext>) => Promise<R>, answer: (r: R) => { status: number; body: string; version?: number; bytes: number }): void {
  const device = deviceContext(conn);
  const { throttle } = conn.deps;
  const hub = device.key.hub;
  throttle
    .requireStandardTier(hub, 'Device twins')
    .then(() => throttle.take(hub, kind === 'read' ? 'twinRead' : 'twinUpdate'))
    .then(() => throttle.ensureQuota(hub))
    .then(() => work(device))
    .then(
      (r) => {
        const a = answer(r);
        respond(conn, a.status, rid, a.body, a.version);
        throttle.record(hub, a.bytes, 'twin');
        conn.deps.hubMetrics?.count(`d2c.twin.${kind}.success`, hub);
      },
      (err: unknown) => {
        respondError(conn, rid, err);
        conn.deps.hubMetrics?.count(`d2c.twin.${kind}.failure`, hub);
      },
    );
}

/** `$iothub/twin/GET/?$rid=…` → `$iothub/twin/res/200/?$rid=…` with `{desired, reported}`. */
export function handleTwinGet(conn: MqttConnection, rid: string): void {
  twinRequest(
    conn,
    rid,
    'read',
    (device) => conn.deps.twin.getDeviceTwin({ device }),
    (r) => ({ status: 200, body: r.twinJson, bytes: Buffer.byteLength(r.twinJson) }),
  );
}

/** `$iothub/twin/PATCH/properties/reported/?$rid=…` → `…/res/204/?$rid=…&$version={reported $version}`, empty body. */
export function handleReportedPatch(conn: MqttConnection, rid: string, body: Buffer): void {
  twinRequest(
    conn,
    rid,
    'update',
    (device) => conn.deps.twin.patchReported({ device, patchJson: body.toString('utf8') }),
    (r) => ({ status: 204, body: '', version: r.reportedVersion, bytes: body.length }),
  );
}

/**
 * A desired patch from the twin service (`{…, "$version": N}`, N also in a header), pushed to
 * `$iothub/twin/PATCH/properties/desired/?$version=N` only to a subscribed connection; nulls are
 * kept (they tell the device what was deleted).
 */
export function deliverDesired(conn: MqttConnection, msg: DeviceMessage): void {
  const version = msg.headers?.get(headers.desiredVersion);
  if (!version || !conn.established?.subscriptions.has('desired')) return;
  conn.send({ cmd: 'publish', topic: `$iothub/twin/PATCH/properties/desired/?$version=${version}`, payload: Buffer.from(msg.data), qos: 0, retain: false, dup: false });
}
