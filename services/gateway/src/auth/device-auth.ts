import type { X509Certificate } from 'node:crypto';
import {
  classifySasToken,
  commonName,
  hasPermission,
  isCurrentlyValid,
  isSasExpired,
  matchesThumbprint,
  parseCertificate,
  parseSasToken,
  scopeCovers,
  verifyChain,
  verifySasWithAnyKey,
} from '@openiothub/auth';
import { DomainError, UnauthorizedError } from '@openiothub/errors';
import type { registryV1 } from '@openiothub/proto';
import type { PolicyCache } from '../upstream/policy-cache.js';
import type { RegistryClient } from '../upstream/registry-client.js';
import { TtlCache } from '@openiothub/runtime';
import type { HubResolver } from './hub-resolver.js';

/** The identity a device connection proved. */
export interface DeviceAuthResult {
  readonly hub: string;
  readonly deviceId: string;
  readonly moduleId: string | undefined;
  readonly generationId: string;
  /** `device`/`module` (own key or X.509 certificate) or `hub` (a policy with DeviceConnect, e.g. a protocol gateway). */
  readonly scope: 'device' | 'module' | 'hub';
  readonly keyName: string | undefined;
  /** Token (or client certificate) expiry, ms since the epoch: the connection is closed then (devguide §10.5). */
  readonly expiresAt: number;
  /** How it authenticated (the `authType` telemetry carries): a SAS token, or an X.509 certificate. */
  readonly method?: 'sas' | 'x509';
  /** X.509: `iothub` for a registered thumbprint, `external` for a CA chain. */
  readonly issuer?: 'iothub' | 'external';
}

const X509_TYPES = new Set(['selfSigned', 'certificateAuthority']);

type Credentials = registryV1.LookupCredentialsResponse;

/**
 * Authenticates device and module connections by SAS token: a token signed with the identity's
 * own key and scoped to it, or with a DeviceConnect policy whose scope covers it. The identity
 * must exist, be enabled and use SAS. Credential lookups are cached and dropped when the registry
 * announces a change (`invalidate`).
 */
export class DeviceAuthenticator {
  readonly #registry: RegistryClient;
  readonly #policies: PolicyCache;
  readonly #hubs: HubResolver;
  readonly #credentials: TtlCache<Credentials>;
  readonly #now: () => number;

  constructor(opts: { registry: RegistryClient; policies: PolicyCache; hubs: HubResolver; cacheMs: number; now?: () => number }) {
    this.#registry = opts.registry;
    this.#policies = opts.policies;
    this.#hubs = opts.hubs;
    this.#credentials = new TtlCache({ ttlMs: opts.cacheMs });
    this.#now = opts.now ?? Date.now;
  }

  /** Drop cached credentials of a device and all its modules. */
  invalidate(hub: string, deviceId: string): void {
    const prefix = `${hub}\n${deviceId}\n`;
    this.#credentials.deleteWhere((k) => k.startsWith(prefix));
  }

  /** Current credentials (cached), for re-checking live connections. */
  lookup(hub: string, deviceId: string, moduleId: string | undefined, fresh = false): Promise<Credentials> {
    const key = `${hub}\n${deviceId}\n${moduleId ?? ''}`;
    const load = () => this.#registry.lookupCredentials({ hub, deviceId, moduleId: moduleId ?? '' });
    return fresh ? this.#credentials.refresh(key, load) : this.#credentials.get(key, load);
  }

  /** Authenticate `password` (a SAS token) for the identity on `hub`. Throws UnauthorizedError or DeviceDisabled. */
  async authenticate(opts: { hub: string; deviceId: string; moduleId: string | undefined; password: string }): Promise<DeviceAuthResult> {
    const { hub, deviceId, moduleId } = opts;
    const token = parseSasToken(opts.password);
    if (isSasExpired(token, this.#now())) throw new UnauthorizedError('The SAS token has expired.');
    const principal = classifySasToken(token);
    if (!this.#hubs.serves(principal.resource.host, hub)) throw new UnauthorizedError(`The SAS token is for host "${principal.resource.host}", not this hub.`);
    const path = moduleId ? ['devices', deviceId, 'modules', moduleId] : ['devices', deviceId];

    let creds = await this.lookup(hub, deviceId, moduleId);
    const check = (c: Credentials) => {
      if (!c.found) throw new UnauthorizedError(moduleId ? `Module ${moduleId} on device ${deviceId} is not registered.` : `Device ${deviceId} is not registered.`);
      if (c.status !== 'enabled') throw new DomainError('DeviceDisabled', `Device ${deviceId} is disabled.`);
    };
    check(creds);

    let scope: DeviceAuthResult['scope'];
    let keyName: string | undefined;
    if (principal.kind === 'policy') {
      if (!scopeCovers(principal.resource, path)) throw new UnauthorizedError('The SAS token resource does not cover this device.');
      const { policy } = await this.#policies.verify(hub, principal.keyName, token);
      if (!policy) throw new UnauthorizedError('The SAS token signature is invalid.');
      if (!hasPermission(policy.rights, 'DeviceConnect')) throw new UnauthorizedError(`Policy "${policy.keyName}" does not grant DeviceConnect.`);
      scope = 'hub';
      keyName = policy.keyName;
    } else {
      const sameIdentity =
        principal.deviceId === deviceId && (principal.kind === 'module' ? principal.moduleId === moduleId : moduleId === undefined);
      if (!sameIdentity) throw new UnauthorizedError('The SAS token was issued for another device or module.');
      const signed = (c: Credentials) => verifySasWithAnyKey(token, [c.authentication?.symmetricKey?.primaryKey, c.authentication?.symmetricKey?.secondaryKey]);
      if (creds.authentication?.type !== 'sas') throw new UnauthorizedError('This identity authenticates with X.509, not SAS tokens.');
      if (!signed(creds)) {
        creds = await this.lookup(hub, deviceId, moduleId, true); // keys may have just been changed
        check(creds);
        if (!signed(creds)) throw new UnauthorizedError('The SAS token signature is invalid.');
      }
      scope = principal.kind;
      keyName = undefined;
    }
    return { hub, deviceId, moduleId, generationId: creds.generationId, scope, keyName, expiresAt: token.se * 1000 };
  }

  /**
   * Authenticate a TLS client certificate chain (protocols-ops §3): a `selfSigned` identity's
   * registered primary or secondary thumbprint (SHA-1 or SHA-256) must be the leaf's; a
   * `certificateAuthority` identity's leaf must have CN = the device id (`{deviceId}/{moduleId}`
   * for a module) and chain to one of the hub's verified CA certificates. A SAS identity cannot use
   * a certificate. The TLS handshake itself proved possession of the leaf's private key.
   */
  async authenticateX509(opts: { hub: string; deviceId: string; moduleId: string | undefined; chain: readonly X509Certificate[] }): Promise<DeviceAuthResult> {
    const { hub, deviceId, moduleId, chain } = opts;
    const leaf = chain[0];
    if (!leaf) throw new UnauthorizedError('A client certificate or a SAS token is required.');
    if (!isCurrentlyValid(leaf, this.#now())) throw new UnauthorizedError('The client certificate is expired or not yet valid.');
    const creds = await this.lookup(hub, deviceId, moduleId, true);
    if (!creds.found) throw new UnauthorizedError(moduleId ? `Module ${moduleId} on device ${deviceId} is not registered.` : `Device ${deviceId} is not registered.`);
    if (creds.status !== 'enabled') throw new DomainError('DeviceDisabled', `Device ${deviceId} is disabled.`);
    const auth = creds.authentication;
    if (!auth || !X509_TYPES.has(auth.type)) throw new UnauthorizedError('This identity authenticates with SAS tokens, not X.509 certificates.');
    if (auth.type === 'selfSigned') {
      const t = auth.x509Thumbprint;
      if (!matchesThumbprint(leaf, t?.primaryThumbprint) && !matchesThumbprint(leaf, t?.secondaryThumbprint)) {
        throw new UnauthorizedError('The client certificate thumbprint matches neither registered thumbprint.');
      }
    } else {
      const expected = moduleId ? `${deviceId}/${moduleId}` : deviceId;
      if (commonName(leaf) !== expected) throw new UnauthorizedError(`The client certificate subject CN must be "${expected}".`);
      const { pems } = await this.#registry.verifiedCertificates({ hub });
      const anchors = pems.map((p) => parseCertificate(p)).filter((c): c is X509Certificate => c !== undefined);
      if (!verifyChain(chain, anchors, this.#now())) throw new UnauthorizedError('The client certificate does not chain to a verified CA certificate of this hub.');
    }
    return {
      hub,
      deviceId,
      moduleId,
      generationId: creds.generationId,
      scope: moduleId ? 'module' : 'device',
      keyName: undefined,
      expiresAt: new Date(leaf.validTo).getTime(),
      method: 'x509',
      issuer: auth.type === 'selfSigned' ? 'iothub' : 'external',
    };
  }
}
