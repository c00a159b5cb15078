import type { X509Certificate } from 'node:crypto';
import type { Delivery, Message, Receiver, Sender } from 'rhea';
import { hasPermission } from '@openiothub/auth';
import { toDomainError, UnauthorizedError } from '@openiothub/errors';
import { audienceCovered, type LinkTarget } from './addresses.js';
import { verifyPutToken, type Principal } from './cbs.js';
import { CONDITION, findPrincipal, idOf, joinDevice, scheduleExpiry, type ConnState, type Link } from './device-sessions.js';
import type { AmqpDeps } from './server.js';

/**
 * Who may do what on an AMQP connection: CBS put-tokens (devices, modules, policies, the Event
 * Hubs endpoint), X.509 devices authenticated by their TLS client certificate, and each link's
 * address checked against what the connection holds.
 */

/**
 * X.509 devices put no token on $cbs: a device link on a connection whose TLS client presented a
 * certificate is authorized by that certificate (once per identity and connection). Returns
 * false (and closes the link) when the certificate does not authenticate the link's identity.
 */
export async function admitX509(deps: AmqpDeps, s: ConnState, chain: () => X509Certificate[], link: Link, target: LinkTarget): Promise<boolean> {
  if (!('deviceId' in target)) return true;
  const key = `x509:${idOf(target.deviceId, target.moduleId)}`;
  if (s.principals.has(key) || !s.hub || !(await s.admitted)) return true;
  const certificates = chain();
  if (certificates.length === 0) return true;
  try {
    const auth = await deps.deviceAuth.authenticateX509({ hub: s.hub, deviceId: target.deviceId, moduleId: target.moduleId, chain: certificates });
    await deps.throttle.take(s.hub, 'connect');
    const principal: Principal = { kind: 'device', auth, expiresAt: auth.expiresAt };
    s.principals.set(key, principal);
    scheduleExpiry(s, key, principal);
    return true;
  } catch (err) {
    const e = toDomainError(err);
    link.close({ condition: CONDITION.unauthorized, description: e.message });
    return false;
  }
}

/** Check the link's address against the connection's put-tokens; close it when not covered. Returns whether it may stay. */
/** Links of standard-tier features: C2D (both ends and feedback), direct methods, twins (protocols-ops §0.1). */
const STANDARD_LINKS: Readonly<Partial<Record<LinkTarget['kind'], string>>> = {
  'service-c2d': 'Cloud-to-device messaging',
  'service-feedback': 'Cloud-to-device messaging',
  'device-c2d': 'Cloud-to-device messaging',
  'device-methods': 'Direct methods',
  'device-twin': 'Device twins',
};

/** A standard-tier link on a Basic-tier hub is closed with amqp:not-allowed. Returns whether it may stay. */
export async function tierAllowsLink(deps: AmqpDeps, s: ConnState, link: Link, target: LinkTarget): Promise<boolean> {
  const feature = STANDARD_LINKS[target.kind];
  if (!feature || !s.hub || !(await deps.throttle.isBasicTier(s.hub))) return true;
  link.close({ condition: 'amqp:not-allowed', description: `${feature} is not available in the basic tier; the hub needs a standard tier (S1-S3) or F1.` });
  return false;
}

export function authorizeLink(deps: AmqpDeps, s: ConnState, link: Link, target: LinkTarget): boolean {
  const refuse = (condition: string, description: string) => {
    link.close({ condition, description });
    return false;
  };
  switch (target.kind) {
    case 'legacy-events': // redirected before this
    case 'unknown':
      return refuse(CONDITION.notFound, `No such node: ${(link as Sender).source?.address ?? (link as Receiver).target?.address ?? ''}.`);
    case 'service-c2d':
    case 'service-feedback':
    case 'service-file-notifications': {
      const found = findPrincipal(s, (p) => p.kind === 'service');
      if (!found) return refuse(CONDITION.unauthorized, 'Put a service token on $cbs first.');
      if (found[1].kind === 'service' && !hasPermission(found[1].rights, 'ServiceConnect')) return refuse(CONDITION.unauthorized, 'The policy does not grant ServiceConnect.');
      s.linkPrincipal.set(link, found[0]);
      return true;
    }
    case 'cbs':
      return true;
    case 'eh-management':
    case 'eh-partition': {
      const found = findPrincipal(s, (p) => p.kind === 'eventhub' || (p.kind === 'service' && hasPermission(p.rights, 'ServiceConnect')));
      if (!found) return refuse(CONDITION.unauthorized, 'Put a token of a policy with ServiceConnect on $cbs first.');
      if (target.kind === 'eh-partition' && target.eventHub.toLowerCase() !== (s.hub ?? '').toLowerCase()) {
        return refuse(CONDITION.notFound, `The messaging entity '${target.eventHub}' could not be found.`);
      }
      s.linkPrincipal.set(link, found[0]);
      return true;
    }
    default: {
      const { deviceId, moduleId } = target;
      const found = findPrincipal(s, (p) => p.kind === 'device' && p.auth.deviceId === deviceId && (p.auth.moduleId ?? undefined) === (moduleId ?? undefined));
      if (!found || found[1].kind !== 'device') return refuse(CONDITION.unauthorized, `Put a token for ${moduleId ? `module ${moduleId} of ` : ''}device ${deviceId} on $cbs first.`);
      s.linkPrincipal.set(link, found[0]);
      joinDevice(deps, s, found[1].auth, link).catch((err: unknown) => {
        deps.log.error({ category: 'Connections', err }, 'presence unavailable (NATS): closing the link');
        link.close({ condition: CONDITION.internal, description: 'The hub cannot take this device now; retry.' });
      });
      return true;
    }
  }
}

/** CBS put-token (sdk-compat §7): verify the token for its audience, answer 200 or 401 on the reply link. */
export async function answerPutToken(deps: AmqpDeps, s: ConnState, request: Message, delivery: Delivery): Promise<void> {
  delivery.accept();
  const props = (request.application_properties ?? {}) as Record<string, unknown>;
  const audience = String(props['name'] ?? '');
  let status = 200;
  let description = 'OK';
  try {
    if (props['operation'] !== 'put-token') throw new UnauthorizedError(`Unsupported $cbs operation ${String(props['operation'])}.`);
    const raw = typeof request.body === 'string' ? request.body : Buffer.isBuffer(request.body) ? request.body.toString('utf8') : String((request.body as { content?: unknown })?.content ?? '');
    if (!audienceCovered(audience, raw)) throw new UnauthorizedError('The token does not cover the audience it was put for.');
    if (!(await s.admitted)) throw new UnauthorizedError('Unauthorized');
    const principal = await verifyPutToken(deps, s.hub, raw);
    // a device put-token is a new device connection (its throttle); a renewal of the same audience is not
    if (principal.kind === 'device' && !s.principals.has(audience.toLowerCase())) await deps.throttle.take(s.hub!, 'connect');
    const key = audience.toLowerCase();
    s.principals.set(key, principal);
    scheduleExpiry(s, key, principal);
    // an authenticated device is connected (IoT Hub counts it so), links or not
    if (principal.kind === 'device') await joinDevice(deps, s, principal.auth, undefined);
  } catch (err) {
    const e = toDomainError(err);
    status = e.spec.http === 401 || e.spec.http === 403 || e.spec.http === 404 ? 401 : e.spec.http;
    description = e.message;
  }
  const reply = s.cbsReply;
  if (!reply) return;
  reply.send({
    body: '',
    to: request.reply_to,
    correlation_id: request.message_id,
    application_properties: { 'status-code': status, 'status-description': description, ...(status === 200 ? {} : { 'error-condition': CONDITION.unauthorized }) },
  });
}
