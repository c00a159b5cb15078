import { verifySasWithAnyKey, type SasToken } from '@openiothub/auth';
import { DomainError } from '@openiothub/errors';
import type { registryV1 } from '@openiothub/proto';
import type { RegistryClient } from './registry-client.js';
import { TtlCache } from '@openiothub/runtime';

type Policy = registryV1.SharedAccessPolicy;

/**
 * Shared access policies looked up in the registry, cached for `ttlMs`. `verify` checks a
 * token's signature against the cached keys and, when that fails, once against freshly loaded keys —
 * so a just-renewed key works at once (concurrent re-loads of one policy coalesce).
 */
export class PolicyCache {
  readonly #registry: RegistryClient;
  readonly #cache: TtlCache<Policy | undefined>;

  constructor(opts: { registry: RegistryClient; ttlMs: number }) {
    this.#registry = opts.registry;
    this.#cache = new TtlCache({ ttlMs: opts.ttlMs });
  }

  /** The policy whose primary or secondary key signed `token`, or undefined (unknown policy or wrong key), and whether it exists. */
  async verify(hub: string, keyName: string, token: SasToken, opts: { eventHubs?: boolean } = {}): Promise<{ policy: Policy | undefined; exists: boolean }> {
    const key = `${hub}\n${keyName}`;
    const load = async () => {
      try {
        return (await this.#registry.getPolicy({ hub, keyName })).policy;
      } catch (err) {
        if (err instanceof DomainError && err.code === 'NotFound') return undefined;
        throw err;
      }
    };
    const ok = (p: Policy | undefined) => !!p && verifySasWithAnyKey(token, [p.primaryKey, p.secondaryKey], opts);
    let policy = await this.#cache.get(key, load);
    if (!ok(policy)) policy = await this.#cache.refresh(key, load);
    return { policy: ok(policy) ? policy : undefined, exists: policy !== undefined };
  }
}
