/**
 * IoT Hub's AMQP link addresses (sdk-compat §7, §8.2) as pure functions. Ids in addresses are
 * percent-encoded by the SDKs (`encodeURIComponent`), so segments are decoded.
 */

/** What a link attaches to. `direction` is the peer's role: it sends to us, or receives from us. */
export type LinkTarget =
  | { readonly kind: 'cbs' }
  | { readonly kind: 'service-c2d' }
  | { readonly kind: 'service-feedback' }
  | { readonly kind: 'service-file-notifications' }
  | { readonly kind: 'device-telemetry'; readonly deviceId: string; readonly moduleId?: string | undefined }
  | { readonly kind: 'device-c2d'; readonly deviceId: string; readonly moduleId?: string | undefined }
  | { readonly kind: 'device-methods'; readonly deviceId: string; readonly moduleId?: string | undefined }
  | { readonly kind: 'device-twin'; readonly deviceId: string; readonly moduleId?: string | undefined }
  | { readonly kind: 'eh-management' }
  /** IoT Hub's old `messages/events…` addresses: answered with a redirect to the Event Hubs-compatible endpoint (spec §6.3). */
  | { readonly kind: 'legacy-events'; readonly rest: string }
  | { readonly kind: 'eh-partition'; readonly eventHub: string; readonly consumerGroup: string; readonly partition: string }
  | { readonly kind: 'unknown' };

function segmentsOf(address: string): string[] | undefined {
  const path = address.replace(/^amqps?:\/\/[^/]+/i, '').split('?')[0] ?? '';
  try {
    return path
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/**
 * Classify the address of a link the peer attached. `peerSends` is true when the peer is the
 * sender (its target is the address), false when it receives (its source is).
 */
export function classifyAddress(address: string | undefined, peerSends: boolean): LinkTarget {
  if (!address) return { kind: 'unknown' };
  if (address === '$cbs') return { kind: 'cbs' };
  if (address === '$management') return { kind: 'eh-management' };
  const seg = segmentsOf(address);
  if (!seg) return { kind: 'unknown' };
  const lower = seg.map((s) => s.toLowerCase());
  if (lower.length === 2 && lower[0] === 'messages' && lower[1] === 'devicebound' && peerSends) return { kind: 'service-c2d' };
  if (lower.length === 3 && lower[0] === 'messages' && lower[1] === 'servicebound' && !peerSends) {
    if (lower[2] === 'feedback') return { kind: 'service-feedback' };
    if (lower[2] === 'filenotifications') return { kind: 'service-file-notifications' };
  }
  if (lower[0] === 'messages' && lower[1] === 'events') return { kind: 'legacy-events', rest: seg.slice(2).join('/') };
  // the Event Hubs-compatible endpoint: `<hub>/ConsumerGroups/<cg>/Partitions/<p>` (spec/eventhubs-amqp.md §4.1)
  if (lower.length === 5 && lower[1] === 'consumergroups' && lower[3] === 'partitions' && !peerSends) {
    return { kind: 'eh-partition', eventHub: seg[0] as string, consumerGroup: seg[2] as string, partition: seg[4] as string };
  }
  if (lower[0] !== 'devices' || !seg[1]) return { kind: 'unknown' };
  const deviceId = seg[1];
  let rest = lower.slice(2);
  let moduleId: string | undefined;
  if (rest[0] === 'modules' && seg[3]) {
    moduleId = seg[3];
    rest = lower.slice(4);
  }
  const tail = rest.join('/');
  // a module's telemetry sender and input receiver share one address (sdk-compat §7)
  if (tail === 'messages/events') return peerSends ? { kind: 'device-telemetry', deviceId, moduleId } : moduleId ? { kind: 'device-c2d', deviceId, moduleId } : { kind: 'unknown' };
  if (tail === 'messages/devicebound' && !peerSends && !moduleId) return { kind: 'device-c2d', deviceId };
  if (tail === 'methods/devicebound') return { kind: 'device-methods', deviceId, moduleId };
  if (tail === 'twin') return { kind: 'device-twin', deviceId, moduleId };
  return { kind: 'unknown' };
}

/** The device a service C2D message is for: its `to` is `/devices/{id}/messages/devicebound`. */
export function c2dTargetOf(to: string | undefined): { deviceId: string; moduleId?: string | undefined } | undefined {
  if (!to) return undefined;
  const seg = segmentsOf(to);
  if (!seg) return undefined;
  const lower = seg.map((s) => s.toLowerCase());
  if (lower.length === 4 && lower[0] === 'devices' && lower[2] === 'messages' && lower[3] === 'devicebound') return { deviceId: seg[1] as string };
  return undefined;
}

/** `host/path` of a resource URI or audience, lower case, without scheme, port or trailing slash. */
function resourcePath(uri: string): string {
  let u = uri.trim();
  try {
    u = decodeURIComponent(u);
  } catch {
    /* keep as is */
  }
  u = u.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').toLowerCase();
  const [host = '', ...rest] = u.split('/');
  return [host.replace(/:\d+$/, ''), ...rest.filter(Boolean)].join('/');
}

/** A put-token's audience must lie within the token's own `sr` (a hub-wide token covers everything below it). */
export function audienceCovered(audience: string, token: string): boolean {
  const sr = /(?:^|[\s&])sr=([^&]+)/.exec(token)?.[1];
  if (!sr || !audience) return false;
  const a = resourcePath(audience);
  const t = resourcePath(sr);
  return a === t || a.startsWith(`${t}/`);
}
