import { validateIpFilterRules, type IpFilterRule } from '@openiothub/auth';
import { ArgumentInvalidError, DomainError, PreconditionFailedError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';

const etagOf = (version: number | string) => `"ipf-${version}"`;

/** IoT Hub SKUs the quota table knows, plus "unlimited" (self-hosting: no throttles). */
export const SKUS = ['unlimited', 'F1', 'B1', 'B2', 'B3', 'S1', 'S2', 'S3'] as const;

/**
 * What the gateway enforces for a hub — IP filter rules (versioned for If-Match) and the SKU
 * (throttles) — stored with the hub; every change is announced so gateways drop their copy.
 */
export class HubSettings {
  constructor(
    private readonly pool: Pool,
    private readonly changed: (hub: string) => void,
  ) {}

  async putSku(hub: string, name: string, units: number): Promise<void> {
    const sku = SKUS.find((k) => k.toLowerCase() === name.toLowerCase());
    if (!sku) throw new ArgumentInvalidError(`sku name must be one of ${SKUS.join(', ')}.`);
    if (!Number.isInteger(units) || units < 1 || units > (sku === 'F1' ? 1 : 200)) throw new ArgumentInvalidError(`units (capacity) must be 1${sku === 'F1' ? '' : '-200'} for ${sku}.`);
    const { rowCount } = await this.pool.query(`UPDATE registry.hubs SET sku_name = $2, sku_units = $3 WHERE name = $1`, [hub, sku, units]);
    if (!rowCount) throw new DomainError('IotHubNotFound', `IoT hub ${hub} not found.`);
    this.changed(hub);
  }

  async get(hub: string): Promise<{ rules: IpFilterRule[]; etag: string }> {
    const { rows } = await this.pool.query(`SELECT ip_filter_rules, ip_filter_version FROM registry.hubs WHERE name = $1`, [hub]);
    const r = rows[0] as { ip_filter_rules: IpFilterRule[]; ip_filter_version: string } | undefined;
    if (!r) throw new DomainError('IotHubNotFound', `IoT hub ${hub} not found.`);
    return { rules: r.ip_filter_rules, etag: etagOf(r.ip_filter_version) };
  }

  async put(hub: string, rulesJson: string, ifMatch: string | undefined): Promise<{ rules: IpFilterRule[]; etag: string }> {
    let parsed: unknown;
    try {
      parsed = JSON.parse(rulesJson);
    } catch {
      throw new ArgumentInvalidError('ipFilterRules is not valid JSON.');
    }
    const rules = validateIpFilterRules(parsed);
    const current = await this.get(hub);
    if (ifMatch !== undefined && ifMatch.trim() !== '' && ifMatch.trim() !== '*' && ifMatch.trim() !== current.etag) {
      throw new PreconditionFailedError('The IP filter was changed since it was read: its etag does not match If-Match.');
    }
    const { rows } = await this.pool.query(
      `UPDATE registry.hubs SET ip_filter_rules = $2, ip_filter_version = ip_filter_version + 1 WHERE name = $1 RETURNING ip_filter_version`,
      [hub, JSON.stringify(rules)],
    );
    this.changed(hub);
    return { rules, etag: etagOf((rows[0] as { ip_filter_version: string }).ip_filter_version) };
  }
}
