import { classifySasToken, hasPermission, isSasExpired, parseSasToken, scopeCovers, verifySasSignature, type Permission } from '@openiothub/auth';
import { DomainError, UnauthorizedError } from '@openiothub/errors';
import type { registryV1 } from '@openiothub/proto';
import type { RegistryClient } from '../upstream/registry-client.js';
import { TtlCache } from '../upstream/ttl-cache.js';
import type { HubResolver } from './hub-resolver.js';

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
  readonly #registry: RegistryClient;
  readonly #hubs: HubResolver;
  readonly #policies: TtlCache<registryV1.SharedAccessPolicy | undefined>;
  readonly #now: () => number;

  constructor(opts: { registry: RegistryClient; hubs: HubResolver; cacheMs: number; now?: () => number }) {
    this.#registry = opts.registry;
    this.#hubs = opts.hubs;
    this.#policies = new TtlCache({ ttlMs: opts.cacheMs });
    this.#now = opts.now ?? Date.now;
  }

  async authorize(opts: { hub: string; authorization: string | undefined; path: readonly string[]; permission: Permission }): Promise<ServicePrincipal> {
    if (!opts.authorization) throw new UnauthorizedError('The Authorization header with a SharedAccessSignature is required.');
    const token = parseSasToken(opts.authorization);
    const principal = classifySasToken(token);
    if (principal.kind !== 'policy') throw new UnauthorizedError('A device or module token cannot be used on the service API; use a shared access policy.');
    if (isSasExpired(token, this.#now())) throw new UnauthorizedError('The SAS token has expired.');
    const { resource, keyName } = principal;
    let tokenHub: string;
    try {
      tokenHub = this.#hubs.resolve(resource.host);
    } catch {
      throw new UnauthorizedError(`The SAS token is for host "${resource.host}", not this hub.`);
    }
    if (tokenHub !== opts.hub) throw new UnauthorizedError(`The SAS token is for host "${resource.host}", not this hub.`);
    if (!scopeCovers(resource, opts.path)) throw new UnauthorizedError('The SAS token resource does not cover this request.');
    const signedBy = (p: registryV1.SharedAccessPolicy | undefined) => !!p && (verifySasSignature(token, p.primaryKey) || verifySasSignature(token, p.secondaryKey));
    let policy = await this.#policy(opts.hub, keyName, false);
    // a key rotated since we cached the policy: look again (concurrent look-ups of one policy coalesce)
    if (!signedBy(policy)) policy = await this.#policy(opts.hub, keyName, true);
    if (!policy) throw new UnauthorizedError(`Unknown shared access policy "${keyName}".`);
    if (!signedBy(policy)) throw new UnauthorizedError('The SAS token signature is invalid.');
    if (!hasPermission(policy.rights, opts.permission)) {
      throw new UnauthorizedError(`Policy "${policy.keyName}" does not grant ${opts.permission}.`);
    }
    return { hub: opts.hub, policy: policy.keyName, rights: policy.rights };
  }

  #policy(hub: string, keyName: string, refresh: boolean): Promise<registryV1.SharedAccessPolicy | undefined> {
    const load = async () => {
      try {
        return (await this.#registry.getPolicy({ hub, keyName })).policy;
      } catch (err) {
        if (err instanceof DomainError && err.code === 'NotFound') return undefined;
        throw err;
      }
    };
    const key = `${hub}\n${keyName}`;
    return refresh ? this.#policies.refresh(key, load, this.#now()) : this.#policies.get(key, load, this.#now());
  }
}
