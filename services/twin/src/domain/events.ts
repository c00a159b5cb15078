import { headers as h, subjects } from '@openiothub/bus';
import type { OutboxEvent } from '@openiothub/postgres';
import type { TwinChange, TwinState } from './twin.js';

/**
 * A twin change notification (devguide §6.2): `opType` updateTwin / replaceTwin, the changed
 * parts with the new versions as body. Routed by the routing service from stream EVENTS.
 */
export function twinChangeEvent(opts: { hub: string; deviceId: string; moduleId: string; change: TwinChange; state: TwinState; at: string }): OutboxEvent {
  const { change, state } = opts;
  const properties: Record<string, unknown> = {};
  if (change.desired) properties['desired'] = { ...change.desired, $version: state.desiredVersion };
  if (change.reported) properties['reported'] = { ...change.reported, $version: state.reportedVersion };
  const body = { version: state.version, ...(change.tags !== undefined ? { tags: change.tags } : {}), properties };
  const headers: Record<string, string> = {
    [h.messageSource]: 'twinChangeEvents',
    [h.messageSchema]: 'twinChangeNotification',
    [h.opType]: change.op,
    [h.hubName]: opts.hub,
    [h.deviceId]: opts.deviceId,
    [h.operationTimestamp]: opts.at,
    'content-type': 'application/json',
    'content-encoding': 'utf-8',
  };
  if (opts.moduleId) headers[h.moduleId] = opts.moduleId;
  return { subject: subjects.twinChange(opts.hub, opts.deviceId, opts.moduleId || undefined), headers, body: Buffer.from(JSON.stringify(body)) };
}
