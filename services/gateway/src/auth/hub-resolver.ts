import { stripPort } from '@openiothub/auth';
import { DomainError } from '@openiothub/errors';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** `hub=host,hub2=host2` (HUB_HOSTS) → host → hub. */
export function parseHubHosts(spec: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0 || eq === pair.length - 1) throw new Error(`HUB_HOSTS entry "${pair}" must be hub=host`);
    out.set(pair.slice(eq + 1).trim().toLowerCase(), pair.slice(0, eq).trim());
  }
  return out;
}

/**
 * Host name → hub (ARCHITECTURE.md "Hubs"): hosts named in `hosts` (HUB_HOSTS) are their hub;
 * `localhost` and loopback addresses are the default hub; `{hub}.{domain}` is hub `{hub}`.
 * Anything else is IotHubNotFound.
 */
export class HubResolver {
  readonly #defaultHub: string;
  readonly #domain: string;
  readonly #hosts: ReadonlyMap<string, string>;

  constructor(opts: { defaultHub: string; domain: string; hosts?: ReadonlyMap<string, string> }) {
    this.#defaultHub = opts.defaultHub;
    this.#domain = opts.domain.toLowerCase().replace(/^\./, '');
    this.#hosts = opts.hosts ?? new Map();
  }

  /** The hub a host name (optionally with a port) addresses. */
  resolve(hostHeader: string | undefined): string {
    const host = stripPort((hostHeader ?? '').trim()).toLowerCase();
    const mapped = this.#hosts.get(host);
    if (mapped) return mapped;
    if (LOCAL_HOSTS.has(host) && this.#defaultHub) return this.#defaultHub;
    if (this.#domain && host.endsWith(`.${this.#domain}`)) {
      const hub = host.slice(0, -(this.#domain.length + 1));
      if (hub && !hub.includes('.')) return hub;
    }
    throw new DomainError('IotHubNotFound', `No IoT hub is served at host "${host}".`);
  }

  /** True when `host` (as written in a token or username) addresses `hub`. */
  serves(host: string, hub: string): boolean {
    try {
      return this.resolve(host) === hub;
    } catch {
      return false;
    }
  }

  /**
   * The provisioning instance a host addresses: loopback names `defaultInstance`, `{name}.{domain}`
   * names `{name}`.
   */
  instanceOf(host: string, defaultInstance: string): string {
    const h = stripPort(host.trim()).toLowerCase();
    if (LOCAL_HOSTS.has(h) && defaultInstance) return defaultInstance;
    if (this.#domain && h.endsWith(`.${this.#domain}`)) {
      const name = h.slice(0, -(this.#domain.length + 1));
      if (name && !name.includes('.')) return name;
    }
    throw new DomainError('NotFound', `No provisioning service is served at host "${h}".`);
  }

  /** The host name devices and services should use for a hub. */
  hostNameOf(hub: string): string {
    for (const [host, h] of this.#hosts) if (h === hub) return host;
    return hub === this.#defaultHub || !this.#domain ? 'localhost' : `${hub}.${this.#domain}`;
  }
}
