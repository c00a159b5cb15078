import { classifySasToken, hasPermission, isSasExpired, parseSasToken } from '@openiothub/auth';
import { UnauthorizedError } from '@openiothub/errors';
import type { DeviceAuthenticator, DeviceAuthResult } from '../auth/device-auth.js';
import type { HubResolver } from '../auth/hub-resolver.js';
import type { ServiceAuthorizer } from '../auth/service-auth.js';
import type { PolicyCache } from '../upstream/policy-cache.js';

/** Who a put-token proved, for how long. */
export type Principal =
  | { readonly kind: 'service'; readonly rights: readonly string[]; readonly expiresAt: number }
  /** An Event Hubs-style token (`sr=sb://host/<hub>…`) of a policy with ServiceConnect: reads the built-in endpoint. */
  | { readonly kind: 'eventhub'; readonly expiresAt: number }
  | { readonly kind: 'device'; readonly auth: DeviceAuthResult; readonly expiresAt: number };

export interface CbsDeps {
  readonly hubs: HubResolver;
  readonly deviceAuth: DeviceAuthenticator;
  readonly serviceAuth: ServiceAuthorizer;
  readonly policies: PolicyCache;
}

/**
 * What a CBS put-token proves on a connection to `hub` (sdk-compat §7, spec/eventhubs-amqp.md §2):
 * an Event Hubs-style policy token, a service policy token, or a device / module (or DeviceConnect
 * policy scoped to one) token. Throws UnauthorizedError (or the device authenticator's error).
 */
export async function verifyPutToken(deps: CbsDeps, hub: string | undefined, rawToken: string): Promise<Principal> {
  if (!hub) throw new UnauthorizedError('Unknown hub.');
  const token = parseSasToken(rawToken);
  const principal = classifySasToken(token);
  const segments = principal.resource.segments;
  // Event Hubs clients sign sr=sb://host/<hub>[/…] with the key's UTF-8 bytes (spec/eventhubs-amqp.md §2.4)
  if (principal.kind === 'policy' && (/^sb:\/\//i.test(token.resourceUri) || segments[0] === hub.toLowerCase() || (segments[0] === 'messages' && segments[1] === 'events'))) {
    if (isSasExpired(token)) throw new UnauthorizedError('The SAS token has expired.');
    if (!deps.hubs.serves(principal.resource.host, hub)) throw new UnauthorizedError(`The SAS token is for host "${principal.resource.host}", not this hub.`);
    const legacy = segments[0] === 'messages' && segments[1] === 'events'; // IoT Hub's own name for the built-in endpoint
    if (segments.length > 0 && segments[0] !== hub.toLowerCase() && !legacy) throw new UnauthorizedError(`The SAS token is for entity "${segments[0]}", not ${hub}.`);
    const { policy } = await deps.policies.verify(hub, principal.keyName, token, { eventHubs: true });
    if (!policy) throw new UnauthorizedError('The SAS token signature is invalid.');
    if (!hasPermission(policy.rights, 'ServiceConnect')) throw new UnauthorizedError(`Policy "${policy.keyName}" does not grant ServiceConnect.`);
    return { kind: 'eventhub', expiresAt: token.se * 1000 };
  }
  if (principal.kind === 'policy' && segments.length === 0) {
    const svc = await deps.serviceAuth.authorize({ hub, authorization: rawToken, path: [], permission: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'] });
    return { kind: 'service', rights: svc.rights, expiresAt: token.se * 1000 };
  }
  // a device, a module, or a DeviceConnect policy scoped to one of them
  const raw = token.resourceUri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/').slice(1).filter(Boolean);
  const deviceId = principal.kind === 'policy' ? raw[1] : principal.deviceId;
  const moduleId = principal.kind === 'module' ? principal.moduleId : principal.kind === 'policy' ? raw[3] : undefined;
  if (!deviceId) throw new UnauthorizedError('The token names no device.');
  const auth = await deps.deviceAuth.authenticate({ hub, deviceId: decodeURIComponent(deviceId), moduleId: moduleId ? decodeURIComponent(moduleId) : undefined, password: rawToken });
  return { kind: 'device', auth, expiresAt: auth.expiresAt };
}
