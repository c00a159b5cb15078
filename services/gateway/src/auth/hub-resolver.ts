import { stripPort } from '@openiothub/auth';
import { DomainError } from '@openiothub/errors';

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Host name → hub (ARCHITECTURE.md "Hubs"): `localhost` and loopback addresses are the default
 * hub; `{hub}.{domain}` is hub `{hub}`. Anything else is IotHubNotFound.
 */
export class HubResolver {
  readonly #defaultHub: string;
  readonly #domain: string;

  constructor(opts: { defaultHub: string; domain: string }) {
    this.#defaultHub = opts.defaultHub;
    this.#domain = opts.domain.toLowerCase().replace(/^\./, '');
  }

  /** The hub a host name (optionally with a port) addresses. */
  resolve(hostHeader: string | undefined): string {
    const host = stripPort((hostHeader ?? '').trim()).toLowerCase();
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

  /** The host name devices and services should use for a hub. */
  hostNameOf(hub: string): string {
    return hub === this.#defaultHub || !this.#domain ? 'localhost' : `${hub}.${this.#domain}`;
  }
}
