import type { HubMetrics } from '@openiothub/runtime';
import { ArgumentInvalidError } from '@openiothub/errors';
import { answerEach, messagingV1, unaryHandler } from '@openiothub/proto';
import type { C2DService } from '../domain/c2d-service.js';
import type { ConsumerGroups } from '../domain/consumer-groups.js';
import type { AckMode, LockedMessage, QueueKey } from '../domain/types.js';
import type { FileUploadService } from '../file-upload/file-upload-service.js';

function keyOf(k: messagingV1.QueueKey | undefined): QueueKey {
  if (!k?.hub || !k.deviceId) throw new ArgumentInvalidError('hub and deviceId are required.');
  return { hub: k.hub, deviceId: k.deviceId, moduleId: k.moduleId };
}

function required(v: string, name: string): string {
  if (!v) throw new ArgumentInvalidError(`${name} is required.`);
  return v;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Lock tokens are UUIDs this hub handed out; anything else cannot name a lock. */
function lockToken(v: string): string {
  if (!UUID.test(required(v, 'lockToken'))) throw new ArgumentInvalidError(`"${v}" is not a lock token this hub issued.`);
  return v;
}

/** A locked message as a receiver gets it, addressed to the device's queue or the module's input. */
function delivery(key: QueueKey, m: LockedMessage): messagingV1.C2DMessage {
  const to = key.moduleId ? `/devices/${key.deviceId}/modules/${key.moduleId}/inputs/${m.inputName}` : `/devices/${key.deviceId}/messages/devicebound`;
  return { ...m, to };
}

/** The gRPC MessagingService implementation: translate, call the domain, translate back. */
export function messagingHandlers(svc: C2DService, groups: ConsumerGroups, files: FileUploadService, hubMetrics?: HubMetrics, log?: { error(obj: object, msg: string): void }): messagingV1.MessagingServiceServer {
  const send = async (req: messagingV1.SendRequest): Promise<messagingV1.SendResponse> => {
    const m = req.message;
    if (!m) throw new ArgumentInvalidError('message is required.');
    const key = keyOf(req.key);
    const r = await svc.send(key, {
      body: m.body,
      messageId: m.messageId,
      correlationId: m.correlationId,
      userId: m.userId,
      ack: (m.ack || 'none') as AckMode,
      contentType: m.contentType,
      contentEncoding: m.contentEncoding,
      properties: m.properties,
      expiryTime: m.expiryTime,
      inputName: m.inputName,
    }, req.holderGenerationId);
    return { messageId: r.messageId, sequenceNumber: r.sequenceNumber, ...(r.locked ? { locked: delivery(key, r.locked) } : {}) };
  };
  const receive = async (req: messagingV1.ReceiveRequest): Promise<messagingV1.ReceiveResponse> => {
    const key = keyOf(req.key);
    const r = await svc.receive(key, req.generationId);
    return r.message ? { retryAfterMs: 0, message: delivery(key, r.message) } : { retryAfterMs: r.retryAfterMs };
  };
  const settle = async (req: messagingV1.SettleRequest): Promise<messagingV1.SettleResponse> => {
    const key = keyOf(req.key);
    const token = lockToken(req.lockToken);
    // Azure's C2D egress metrics (protocols-ops §7.1), counted once the settlement took
    const settled = (outcome: 'complete' | 'reject' | 'abandon') => hubMetrics?.count(`c2d.commands.egress.${outcome}.success`, key.hub);
    if (req.outcome === messagingV1.Outcome.OUTCOME_COMPLETE) {
      const remaining = await svc.complete(key, token);
      settled('complete');
      return { remaining };
    }
    if (req.outcome === messagingV1.Outcome.OUTCOME_REJECT) {
      const remaining = await svc.reject(key, token);
      settled('reject');
      return { remaining };
    }
    if (req.outcome === messagingV1.Outcome.OUTCOME_ABANDON) {
      await svc.abandon(key, token);
      settled('abandon');
      return {};
    }
    throw new ArgumentInvalidError('outcome must be COMPLETE, REJECT or ABANDON.');
  };
  return {
    listConsumerGroups: unaryHandler(async (req) => ({ groups: await groups.list(required(req.hub, 'hub')) })),
    createConsumerGroup: unaryHandler(async (req) => groups.create(required(req.hub, 'hub'), req.name)),
    deleteConsumerGroup: unaryHandler(async (req) => {
      await groups.delete(required(req.hub, 'hub'), req.name);
      return { groups: await groups.list(req.hub) };
    }),
    send: unaryHandler(send),
    receive: unaryHandler(receive),
    settle: unaryHandler(settle),
    // one device's failure answers only its own item
    sendBatch: unaryHandler(async (req) => ({ results: await answerEach<messagingV1.SendRequest, messagingV1.SendResult>(req.items, async (item) => ({ response: await send(item) }), (error) => ({ error }), log) })),
    receiveBatch: unaryHandler(async (req) => ({ results: await answerEach<messagingV1.ReceiveRequest, messagingV1.ReceiveResult>(req.items, async (item) => ({ response: await receive(item) }), (error) => ({ error }), log) })),
    settleBatch: unaryHandler(async (req) => ({ results: await answerEach<messagingV1.SettleRequest, messagingV1.SettleResult>(req.items, async (item) => ({ response: await settle(item) }), (error) => ({ error }), log) })),
    purge: unaryHandler(async (req) => ({ totalMessagesPurged: await svc.purge(keyOf(req.key)) })),
    count: unaryHandler(async (req) => ({ count: await svc.count(keyOf(req.key)) })),
    receiveFeedback: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const f = req.queue === messagingV1.ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS ? await files.receive(hub) : await svc.receiveFeedback(hub);
      if (!f) return {};
      return {
        message: {
          bodyJson: JSON.stringify(f.body),
          messageId: f.messageId,
          lockToken: f.lockToken,
          enqueuedTime: f.enqueuedTime,
          expiryTime: f.expiryTime,
          deliveryCount: f.deliveryCount,
          userId: hub, // IoT Hub: UserId = the hub name (devguide §7.4)
        },
      };
    }),
    settleFeedback: unaryHandler(async (req) => {
      const hub = required(req.hub, 'hub');
      const token = lockToken(req.lockToken);
      if (req.outcome !== messagingV1.Outcome.OUTCOME_COMPLETE && req.outcome !== messagingV1.Outcome.OUTCOME_ABANDON) {
        throw new ArgumentInvalidError('feedback can be completed or abandoned.');
      }
      const queue = req.queue === messagingV1.ServiceQueue.SERVICE_QUEUE_FILE_NOTIFICATIONS ? 'file' : 'feedback';
      await svc.settleFeedback(hub, token, req.outcome === messagingV1.Outcome.OUTCOME_COMPLETE, queue);
      return {};
    }),
    createFileUpload: unaryHandler(async (req) => files.start(required(req.hub, 'hub'), required(req.deviceId, 'deviceId'), req.blobName)),
    completeFileUpload: unaryHandler(async (req) => {
      await files.complete(required(req.hub, 'hub'), required(req.deviceId, 'deviceId'), required(req.correlationId, 'correlationId'), req.isSuccess);
      return {};
    }),
    getFileUploadSettings: unaryHandler(async (req) => ({ fileUploadJson: JSON.stringify(await files.settingsJson(required(req.hub, 'hub'))) })),
    updateFileUploadSettings: unaryHandler(async (req) => ({ fileUploadJson: JSON.stringify(await files.updateSettings(required(req.hub, 'hub'), req.fileUploadJson)) })),
    getSettings: unaryHandler(async (req) => ({ cloudToDeviceJson: JSON.stringify(await svc.settings(required(req.hub, 'hub'))) })),
    updateSettings: unaryHandler(async (req) => ({ cloudToDeviceJson: JSON.stringify(await svc.updateSettings(required(req.hub, 'hub'), req.cloudToDeviceJson)) })),
  };
}
