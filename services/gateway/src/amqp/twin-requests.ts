import rhea, { type Message, type Sender } from 'rhea';
import { toDomainError } from '@openiothub/errors';
import type { Logger } from '@openiothub/logging';
import type { DeviceAuthResult } from '../auth/device-auth.js';
import type { TwinClient } from '../upstream/twin-client.js';
import { bodyBytes } from './messages.js';

/** What a twin request needs of the device's session: who it is, where answers go, the desired-push switch. */
export interface TwinSession {
  readonly auth: DeviceAuthResult;
  twinOut?: Sender | undefined;
  desired: boolean;
}

/**
 * A twin request on the device's twin sender (sdk-compat §7): `operation` and `resource`
 * annotations; the answer carries the same correlation id and a `status` annotation (plus
 * `version` for reported patches); errors as `{errorCode, message}` JSON.
 */
export async function answerTwinRequest(deps: { twin: TwinClient; log: Logger }, d: TwinSession, m: Message): Promise<void> {
  const ann = (m.message_annotations ?? {}) as Record<string, unknown>;
  const op = String(ann['operation'] ?? '').toUpperCase();
  const resource = ann['resource'] === undefined || ann['resource'] === null ? '' : String(ann['resource']);
  const reply = (status: number, body: string, version?: number) =>
    d.twinOut?.send({
      correlation_id: m.correlation_id,
      message_annotations: { status, ...(version === undefined ? {} : { version }) },
      body: rhea.message.data_section(Buffer.from(body, 'utf8')),
    });
  const device = { key: { hub: d.auth.hub, deviceId: d.auth.deviceId, moduleId: d.auth.moduleId ?? '' }, generationId: d.auth.generationId, modelId: '' };
  try {
    if (op === 'GET' && resource === '') {
      reply(200, (await deps.twin.getDeviceTwin({ device })).twinJson);
    } else if (op === 'PATCH' && resource === '/properties/reported') {
      const r = await deps.twin.patchReported({ device, patchJson: bodyBytes(m.body).toString('utf8') });
      reply(204, '', r.reportedVersion);
    } else if ((op === 'PUT' || op === 'DELETE') && resource === '/notifications/twin/properties/desired') {
      d.desired = op === 'PUT';
      reply(200, '');
    } else {
      reply(400, JSON.stringify({ errorCode: 400004, message: `Unsupported twin operation ${op} ${resource}.` }));
    }
  } catch (err) {
    const e = toDomainError(err);
    if (e.code === 'ServerError' || e.code === 'ServiceUnavailable') deps.log.warn({ category: 'D2CTwinOperations', err: e.cause ?? e }, 'AMQP twin request failed');
    reply(e.spec.http, JSON.stringify({ errorCode: e.spec.numeric, message: e.message }));
  }
}
