import { ipFilterDecision, type IpFilterRule } from '@openiothub/auth';
import { UnauthorizedError } from '@openiothub/errors';
import { TtlCache } from '@openiothub/runtime';
import type { RegistryClient } from '../upstream/registry-client.js';

/**
 * The IP filter at the gateway edge (protocols-ops §8): each hub's rules, cached and dropped when
 * the registry announces a change (`invalidate`), applied to every new connection and request.
 * A refusal is a plain 401 that does not name the rule.
 */
export class IpFilterGuard {
  readonly #registry: RegistryClient;
  readonly #rules: TtlCache<IpFilterRule[]>;

  constructor(opts: { registry: RegistryClient; cacheMs: number }) {
    this.#registry = opts.registry;
    this.#rules = new TtlCache({ ttlMs: opts.cacheMs });
  }

  invalidate(hub: string): void {
    this.#rules.deleteWhere((k) => k === hub);
  }

  /** Resolves the accepting rule's name (null when none matched); throws UnauthorizedError when refused. */
  async check(hub: string, remoteAddress: string | undefined): Promise<string | null> {
    const rules = await this.#rules.get(hub, async () => JSON.parse((await this.#registry.getIpFilter({ hub })).rulesJson) as IpFilterRule[]);
    const decision = ipFilterDecision(rules, remoteAddress);
    if (!decision.accepted) throw new UnauthorizedError('Unauthorized');
    return decision.rule;
  }
}
