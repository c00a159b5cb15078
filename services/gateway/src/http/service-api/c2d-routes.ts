import { ArgumentInvalidError } from '@openiothub/errors';
import { messagingV1 } from '@openiothub/proto';
import type { ServiceAuthorizer } from '../../auth/service-auth.js';
import type { MessagingClient } from '../../upstream/messaging-client.js';
import { readBody } from '../body.js';
import { headerValue, parseTime, propertiesFromPairs, rawHeaderPairs } from '../message-headers.js';
import type { Handler, RequestContext, Router } from '../router.js';

/** Content type of feedback messages (devguide §7.4). */
export const FEEDBACK_CONTENT_TYPE = 'application/vnd.microsoft.iothub.feedback.json';

/**
 * Service side of C2D over HTTPS, until and beside the AMQP links:
 * - `POST /devices/{id}/messages/devicebound` (and `/devices/{id}/modules/{mid}/messages/devicebound`
 *   with an `iothub-inputname` header): the request body is the message; properties travel as the
 *   device HTTP transport's headers (`iothub-messageid`, `iothub-correlationid`, `iothub-userid`,
 *   `iothub-ack`, `iothub-expiry`, `iothub-contenttype`, `iothub-contentencoding`, `iothub-app-*`).
 *   Answers 200 `{messageId, sequenceNumber}`. Our own endpoint (IoT Hub sends C2D over AMQP only).
 * - `DELETE /devices/{id}/commands`: IoT Hub's "purge command queue", `{totalMessagesPurged, deviceId, moduleId}`.
 * - `GET /messages/serviceBound/feedback`, `DELETE …/feedback/{lock}`, `POST …/feedback/{lock}/abandon`:
 *   IoT Hub's HTTP feedback receiver — 200 with the records and the lock token as ETag, or 204.
 * - `GET|PATCH /settings/cloudToDevice`: the hub's C2D settings as ARM shows them (devguide §7.5).
 * Sending, purging and feedback need ServiceConnect; changing settings RegistryWrite.
 */
export function registerC2DRoutes(router: Router, deps: { messaging: MessagingClient; auth: ServiceAuthorizer; maxBodyBytes: number }): void {
  const { messaging } = deps;
  const authorize = (ctx: RequestContext, permission: 'ServiceConnect' | 'RegistryWrite' | 'Read') =>
    deps.auth.authorizeRequest(ctx, permission === 'Read' ? ['RegistryRead', 'ServiceConnect'] : permission);
  const keyOf = (ctx: RequestContext) => ({ hub: ctx.hub, deviceId: ctx.params['deviceId'] as string, moduleId: ctx.params['moduleId'] ?? '' });

  const send: Handler = async (ctx) => {
    await authorize(ctx, 'ServiceConnect');
    // the body limit is the transport's; the 64 KB message limit is the messaging service's to tell
    const body = await readBody(ctx.req, deps.maxBodyBytes);
    const { system, application } = propertiesFromPairs(rawHeaderPairs(ctx.req.rawHeaders));
    const key = keyOf(ctx);
    if (key.moduleId && !system['input-name']) throw new ArgumentInvalidError('A message to a module needs the iothub-inputname header.');
    const r = await messaging.send({
      key,
      message: messagingV1.C2DMessage.fromPartial({
        body,
        messageId: system['message-id'] ?? '',
        correlationId: system['correlation-id'] ?? '',
        userId: system['user-id'] ?? '',
        ack: (system['ack'] ?? 'none').toLowerCase(),
        contentType: system['content-type'] ?? '',
        contentEncoding: system['content-encoding'] ?? '',
        properties: application,
        expiryTime: parseTime(system['absolute-expiry-time'], 'iothub-expiry'),
        inputName: system['input-name'] ?? '',
      }),
    });
    return { status: 200, body: { messageId: r.messageId, sequenceNumber: r.sequenceNumber } };
  };

  const purge: Handler = async (ctx) => {
    await authorize(ctx, 'ServiceConnect');
    const key = keyOf(ctx);
    const r = await messaging.purge({ key });
    return { status: 200, body: { totalMessagesPurged: r.totalMessagesPurged, deviceId: key.deviceId, moduleId: key.moduleId || null } };
  };

  const receiveFeedback =
    (queue: messagingV1.ServiceQueue): Handler =>
    async (ctx) => {
    await authorize(ctx, 'ServiceConnect');
    const m = (await messaging.receiveFeedback({ hub: ctx.hub, queue })).message;
    if (!m) return { status: 204 };
    const headers: Record<string, string> = {
      etag: `"${m.lockToken}"`,
      'content-type': queue === messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK ? FEEDBACK_CONTENT_TYPE : 'application/json',
      'iothub-messageid': m.messageId,
      'iothub-userid': headerValue(m.userId),
      'iothub-deliverycount': String(m.deliveryCount),
    };
    if (m.enqueuedTime) headers['iothub-enqueuedtime'] = m.enqueuedTime.toISOString();
    if (m.expiryTime) headers['iothub-expiry'] = m.expiryTime.toISOString();
    return { status: 200, raw: Buffer.from(m.bodyJson), headers };
  };
  const settleFeedback =
    (queue: messagingV1.ServiceQueue, outcome: messagingV1.Outcome): Handler =>
    async (ctx) => {
      await authorize(ctx, 'ServiceConnect');
      await messaging.settleFeedback({ hub: ctx.hub, lockToken: ctx.params['lockToken'] as string, outcome, queue });
      return { status: 204 };
    };

  const getSettings: Handler = async (ctx) => {
    await authorize(ctx, 'Read');
    return { status: 200, body: JSON.parse((await messaging.getSettings({ hub: ctx.hub })).cloudToDeviceJson) as unknown };
  };
  const patchSettings: Handler = async (ctx) => {
    await authorize(ctx, 'RegistryWrite');
    const body = (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
    return { status: 200, body: JSON.parse((await messaging.updateSettings({ hub: ctx.hub, cloudToDeviceJson: body })).cloudToDeviceJson) as unknown };
  };

  // file upload settings (our own endpoint, ARM-shaped: storageEndpoints.$default, messagingEndpoints.fileNotifications)
  const getFileUpload: Handler = async (ctx) => {
    await authorize(ctx, 'Read');
    return { status: 200, body: JSON.parse((await messaging.getFileUploadSettings({ hub: ctx.hub })).fileUploadJson) as unknown };
  };
  const putFileUpload: Handler = async (ctx) => {
    await authorize(ctx, 'RegistryWrite');
    const body = (await readBody(ctx.req, deps.maxBodyBytes)).toString('utf8');
    return { status: 200, body: JSON.parse((await messaging.updateFileUploadSettings({ hub: ctx.hub, fileUploadJson: body })).fileUploadJson) as unknown };
  };

  router
    .on('POST', '/devices/:deviceId/messages/devicebound', send)
    .on('POST', '/devices/:deviceId/modules/:moduleId/messages/devicebound', send)
    .on('DELETE', '/devices/:deviceId/commands', purge)
    .on('DELETE', '/devices/:deviceId/modules/:moduleId/commands', purge)
    .on('GET', '/settings/fileUpload', getFileUpload)
    .on('PUT', '/settings/fileUpload', putFileUpload)
    .on('PATCH', '/settings/fileUpload', putFileUpload)
    .on('GET', '/settings/cloudToDevice', getSettings)
    .on('PATCH', '/settings/cloudToDevice', patchSettings);
  // IoT Hub spells it serviceBound; clients are seen sending servicebound too
  // the feedback queue, and the file-upload notifications queue (devguide §8.2: same semantics)
  const queues = [
    ['feedback', messagingV1.ServiceQueue.SERVICE_QUEUE_FEEDBACK],
    ['filenotifications', messagingV1.ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS],
    ['fileuploadnotifications', messagingV1.ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS],
  ] as const;
  for (const bound of ['serviceBound', 'servicebound']) {
    for (const [name, queue] of queues) {
      router
        .on('GET', `/messages/${bound}/${name}`, receiveFeedback(queue))
        .on('DELETE', `/messages/${bound}/${name}/:lockToken`, settleFeedback(queue, messagingV1.Outcome.OUTCOME_COMPLETE))
        .on('POST', `/messages/${bound}/${name}/:lockToken/abandon`, settleFeedback(queue, messagingV1.Outcome.OUTCOME_ABANDON));
    }
  }
}
