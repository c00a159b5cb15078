import type { Delivery, Message } from 'rhea';
import { toDomainError } from '@openiothub/errors';
import { c2dTargetOf, type LinkTarget } from './addresses.js';
import type { Principal } from './cbs.js';
import { CONDITION, idOf, type ConnState } from './device-sessions.js';
import { bodyBytes, c2dFromAmqp, idString, telemetryFromAmqp } from './messages.js';
import type { AmqpDeps } from './server.js';
import { answerTwinRequest } from './twin-requests.js';

/**
 * A message on an authorized link the peer sends on: device telemetry, a device's method
 * response, a device's twin request, or a service's C2D send. Accepted once taken; rejected with
 * the IoT Hub error as an AMQP condition when not.
 */
export async function takeMessage(deps: AmqpDeps, s: ConnState, target: LinkTarget, principal: Principal, message: Message, delivery: Delivery): Promise<void> {
  try {
    if (target.kind === 'device-telemetry' && principal.kind === 'device') {
      const { partitions } = await deps.hubInfo.get(principal.auth.hub);
      await deps.ingest.send(deps.ingest.contextFor(principal.auth, undefined, partitions), telemetryFromAmqp(message));
      deps.reporter.activity(principal.auth.hub, principal.auth.deviceId, principal.auth.moduleId, new Date());
      delivery.accept();
    } else if (target.kind === 'device-methods' && principal.kind === 'device') {
      const d = s.devices.get(idOf(principal.auth.deviceId, principal.auth.moduleId));
      const status = Number((message.application_properties as Record<string, unknown> | undefined)?.['IoThub-status']);
      d?.methods.resolve(idString(message.correlation_id), Number.isFinite(status) ? status : 500, bodyBytes(message.body));
      delivery.accept();
    } else if (target.kind === 'device-twin' && principal.kind === 'device') {
      delivery.accept();
      const d = s.devices.get(idOf(principal.auth.deviceId, principal.auth.moduleId));
      if (d) await answerTwinRequest(deps, d, message);
    } else if (target.kind === 'service-c2d') {
      const to = c2dTargetOf(message.to);
      if (!to) {
        delivery.reject({ condition: 'amqp:invalid-field', description: 'The message "to" must be /devices/{deviceId}/messages/devicebound.' });
        return;
      }
      await deps.throttle.take(s.hub!, 'c2dSend');
      await deps.throttle.ensureQuota(s.hub!);
      const c2d = c2dFromAmqp(message);
      await deps.messaging.send({ key: { hub: s.hub!, deviceId: to.deviceId, moduleId: '' }, message: c2d });
      deps.throttle.record(s.hub!, c2d.body.length, 'message');
      delivery.accept();
    } else {
      delivery.reject({ condition: CONDITION.notFound, description: 'This link does not take messages.' });
    }
  } catch (err) {
    const e = toDomainError(err);
    if (e.code === 'ServerError' || e.code === 'ServiceUnavailable') deps.log.warn({ category: 'Connections', err: e.cause ?? e }, 'AMQP message not taken');
    delivery.reject({ condition: e.spec.amqp, description: e.message });
  }
}
