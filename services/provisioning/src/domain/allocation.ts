import { createHash } from 'node:crypto';
import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import type { AllocationPolicy, Enrollment, JsonObject } from './documents.js';
import { isObject, publicView } from './documents.js';

/** A hub linked to a provisioning instance. */
export interface LinkedHub {
  readonly hub: string;
  readonly hostName: string;
  readonly allocationWeight: number;
  readonly applyAllocationPolicy: boolean;
}

/** The hubs an enrollment may be assigned to: the ones it names, else every linked hub that applies the policy. */
export function candidateHubs(linked: readonly LinkedHub[], enrollment: Enrollment): LinkedHub[] {
  if (enrollment.iotHubs.length === 0) return linked.filter((h) => h.applyAllocationPolicy);
  const named = enrollment.iotHubs.map((name) => {
    const n = name.toLowerCase();
    const hub = linked.find((h) => h.hostName.toLowerCase() === n || h.hub.toLowerCase() === n);
    if (!hub) throw new ArgumentInvalidError(`The enrollment names hub "${name}", which is not linked to this provisioning service.`);
    return hub;
  });
  return [...new Map(named.map((h) => [h.hub, h])).values()];
}

/** A number in [0, 1) from the registration id: where it falls on the weighted line of hubs. */
function unitHash(registrationId: string): number {
  const d = createHash('sha256').update(registrationId, 'utf8').digest();
  return d.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * Hashed ("evenly weighted distribution"): each hub owns a share of [0, 1) in proportion to its
 * weight (hubs in name order); the registration id's hash picks the share. The same id lands on the
 * same hub as long as the linked hubs do not change.
 */
export function hashedChoice(hubs: readonly LinkedHub[], registrationId: string): LinkedHub {
  const sorted = [...hubs].sort((a, b) => (a.hub < b.hub ? -1 : a.hub > b.hub ? 1 : 0));
  const total = sorted.reduce((s, h) => s + Math.max(0, h.allocationWeight), 0);
  if (sorted.length === 0 || total <= 0) throw noHub();
  let x = unitHash(registrationId) * total;
  for (const h of sorted) {
    x -= Math.max(0, h.allocationWeight);
    if (x < 0) return h;
  }
  return sorted[sorted.length - 1]!;
}

/** Lowest load: the hub with the fewest devices per unit of weight (ties: name order). */
export function lowestLoadChoice(hubs: readonly LinkedHub[], load: ReadonlyMap<string, number>): LinkedHub {
  let best: LinkedHub | undefined;
  let bestScore = Infinity;
  for (const h of [...hubs].sort((a, b) => (a.hub < b.hub ? -1 : 1))) {
    if (h.allocationWeight <= 0) continue;
    const score = (load.get(h.hub) ?? 0) / h.allocationWeight;
    if (score < bestScore) {
      best = h;
      bestScore = score;
    }
  }
  if (!best) throw noHub();
  return best;
}

function noHub(): DomainError {
  return new DomainError('InvalidOperation', 'No linked IoT hub is available for this enrollment: link a hub with allocation weight above 0.');
}

/** What a custom allocation webhook answered. */
export interface WebhookDecision {
  readonly hub: LinkedHub;
  readonly initialTwin: JsonObject | undefined;
  readonly payload: JsonObject | undefined;
}

/**
 * Ask a custom allocation webhook (DPS custom allocation, api-version 2019-03-31): POST
 * `{individualEnrollment | enrollmentGroup, deviceRuntimeContext, linkedHubs}`, answer
 * `{iotHubHostName, initialTwin?, payload?}`. The host must be one of the candidates.
 */
export async function askWebhook(opts: {
  url: string;
  enrollment: Enrollment;
  registrationId: string;
  payload: JsonObject | undefined;
  currentHostName: string | undefined;
  candidates: readonly LinkedHub[];
  timeoutMs: number;
}): Promise<WebhookDecision> {
  const body = {
    [opts.enrollment.kind === 'individual' ? 'individualEnrollment' : 'enrollmentGroup']: redactKeys(opts.enrollment.doc),
    deviceRuntimeContext: {
      registrationId: opts.registrationId,
      ...(opts.enrollment.attestation.type === 'symmetricKey' ? { symmetricKey: {} } : { x509: {} }),
      ...(opts.payload !== undefined ? { payload: opts.payload } : {}),
      ...(opts.currentHostName ? { currentIotHubHostName: opts.currentHostName } : {}),
    },
    linkedHubs: opts.candidates.map((h) => h.hostName),
  };
  let res: Response;
  try {
    res = await fetch(opts.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(opts.timeoutMs) });
  } catch (err) {
    throw new DomainError('BadDeviceResponse', `The custom allocation webhook did not answer: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new DomainError('BadDeviceResponse', `The custom allocation webhook answered ${res.status}.`);
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    throw new DomainError('BadDeviceResponse', 'The custom allocation webhook answered something that is not JSON.');
  }
  if (!isObject(answer) || typeof answer['iotHubHostName'] !== 'string') {
    throw new DomainError('BadDeviceResponse', 'The custom allocation webhook must answer {"iotHubHostName": "…"}.');
  }
  const name = answer['iotHubHostName'].toLowerCase();
  const hub = opts.candidates.find((h) => h.hostName.toLowerCase() === name || h.hub.toLowerCase() === name);
  if (!hub) throw new DomainError('BadDeviceResponse', `The custom allocation webhook chose "${answer['iotHubHostName']}", which is not one of the linked hubs.`);
  return {
    hub,
    initialTwin: isObject(answer['initialTwin']) ? answer['initialTwin'] : undefined,
    payload: isObject(answer['payload']) ? answer['payload'] : undefined,
  };
}

/** An enrollment document without its symmetric keys or certificates (never sent to a webhook). */
function redactKeys(full: JsonObject): JsonObject {
  const doc = publicView(full);
  const att = doc['attestation'];
  if (!isObject(att) || !isObject(att['symmetricKey'])) return doc;
  return { ...doc, attestation: { type: att['type'] ?? 'symmetricKey', symmetricKey: {} } };
}

/** The policy that applies: the enrollment's own, else the instance's. geoLatency means lowest load here. */
export function effectivePolicy(enrollment: Enrollment, instanceDefault: string): AllocationPolicy {
  return enrollment.allocationPolicy ?? (instanceDefault as AllocationPolicy);
}
