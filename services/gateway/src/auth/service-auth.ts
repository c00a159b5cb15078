import { classifySasToken, hasPermission, isSasExpired, parseSasToken, scopeCovers, type Permission } from '@openiothub/auth';
import { UnauthorizedError } from '@openiothub/errors';
import type { PolicyCache } from '../upstream/policy-cache.js';
import type { HubResolver } from './hub-resolver.js';
import type { RequestContext } from '../http/router.js';

/** Who a service request was authorized as. */
export interface ServicePrincipal {
  readonly hub: string;
  readonly policy: string;
  readonly rights: readonly string[];
}

/**
 * Authorizes service-facing requests: a shared access policy SAS token (`skn` required), signed
 * with the policy's primary or secondary key, unexpired, for the hub the request addresses, scoped
 * to the requested path, and carrying the required permission. Every failure is 401
 * IotHubUnauthorizedAccess, as IoT Hub answers.
 */
export class ServiceAuthorizer {
  readonly #policies: PolicyCache;
  readonly #hubs: HubResolver;
  readonly #now: () => number;

  constructor(opts: { policies: PolicyCache; hubs: HubResolver; now?: () => number }) {
    this.#policies = opts.policies;
    this.#hubs = opts.hubs;
    this.#now = opts.now ?? Date.now;
  }

  /** Authorize; with several permissions, any one of them suffices. */
  async authorize(opts: { hub: string; authorization: string | undefined; path: readonly string[]; permission: Permission | readonly Permission[] }): Promise<ServicePrincipal> {
    if (!opts.authorization) throw new UnauthorizedError('The Authorization header with a SharedAccessSignature is required.');
    const token = parseSasToken(opts.authorization);
    const principal = classifySasToken(token);
    if (principal.kind !== 'policy') throw new UnauthorizedError('A device or module token cannot be used on the service API; use a shared access policy.');
    if (isSasExpired(token, this.#now())) throw new UnauthorizedError('The SAS token has expired.');
    const { resource, keyName } = principal;
    if (!this.#hubs.serves(resource.host, opts.hub)) throw new UnauthorizedError(`The SAS token is for host "${resource.host}", not this hub.`);
    if (!scopeCovers(resource, opts.path)) throw new UnauthorizedError('The SAS token resource does not cover this request.');
    const { policy, exists } = await this.#policies.verify(opts.hub, keyName, token);
    if (!exists) throw new UnauthorizedError(`Unknown shared access policy "${keyName}".`);
    if (!policy) throw new UnauthorizedError('The SAS token signature is invalid.');
    const anyOf: readonly Permission[] = typeof opts.permission === 'string' ? [opts.permission] : opts.permission;
    if (!anyOf.some((p) => hasPermission(policy.rights, p))) {
      throw new UnauthorizedError(`Policy "${policy.keyName}" does not grant ${anyOf.join(' or ')}.`);
    }
    return { hub: opts.hub, policy: policy.keyName, rights: policy.rights };
  }

  /** Authorize a REST request by its Authorization header and path, then charge the hub's throttle for it. */
  async authorizeRequest(ctx: RequestContext, permission: Permission | readonly Permission[]): Promise<ServicePrincipal> {
    const principal = await this.authorize({ hub: ctx.hub, authorization: ctx.req.headers.authorization, path: ctx.segments, permission });
    await ctx.charge();
    return principal;
  }
}
