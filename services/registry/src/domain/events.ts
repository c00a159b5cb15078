import { headers as h, subjects } from '@openiothub/bus';

import type { OutboxEvent } from '@openiothub/postgres';

export type { OutboxEvent };

/**
 * A device or module lifecycle notification as IoT Hub emits it (devguide §6.1): application
 * properties in headers, the new identity's initial twin as the JSON body.
 */
export function lifecycleEvent(opts: {
  hub: string;
  deviceId: string;
  moduleId?: string | undefined;
  op: 'create' | 'delete';
  etag: string;
  at: Date;
}): OutboxEvent {
  const isModule = opts.moduleId !== undefined;
  const opType = `${opts.op}${isModule ? 'Module' : 'Device'}Identity`;
  const lastUpdated = opts.at.toISOString();
  const section = { $metadata: { $lastUpdated: lastUpdated }, $version: 1 };
  const body = {
    deviceId: opts.deviceId,
    ...(isModule ? { moduleId: opts.moduleId } : {}),
    etag: opts.etag,
    properties: { desired: section, reported: section },
  };
  const headers: Record<string, string> = {
    [h.messageSource]: isModule ? 'moduleLifecycleEvents' : 'deviceLifecycleEvents',
    [h.messageSchema]: isModule ? 'moduleLifecycleNotification' : 'deviceLifecycleNotification',
    [h.opType]: opType,
    [h.hubName]: opts.hub,
    [h.deviceId]: opts.deviceId,
    [h.operationTimestamp]: lastUpdated,
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
  };
  if (isModule) headers[h.moduleId] = opts.moduleId as string;
  return { subject: subjects.lifecycle(opts.hub, opts.deviceId, opts.moduleId), headers, body: Buffer.from(JSON.stringify(body)) };
}

/**
 * A connection-state event (Event Grid's Microsoft.Devices.DeviceConnected / DeviceDisconnected,
 * devguide §6.3), published to JetStream for routing.
 */
export function connectionEvent(opts: {
  hub: string;
  deviceId: string;
  moduleId?: string | undefined;
  connected: boolean;
  connectionId: string;
  at: Date;
}): OutboxEvent {
  const opType = opts.connected ? 'deviceConnected' : 'deviceDisconnected';
  const body = {
    hubName: opts.hub,
    deviceId: opts.deviceId,
    ...(opts.moduleId ? { moduleId: opts.moduleId } : {}),
    deviceConnectionStateEventInfo: { sequenceNumber: opts.connectionId },
  };
  const headers: Record<string, string> = {
    [h.messageSource]: 'deviceConnectionStateEvents',
    [h.opType]: opType,
    [h.hubName]: opts.hub,
    [h.deviceId]: opts.deviceId,
    [h.operationTimestamp]: opts.at.toISOString(),
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
  };
  if (opts.moduleId) headers[h.moduleId] = opts.moduleId;
  return { subject: subjects.connection(opts.hub, opts.deviceId, opts.moduleId), headers, body: Buffer.from(JSON.stringify(body)) };
}
