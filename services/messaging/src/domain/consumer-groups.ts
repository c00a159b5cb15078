import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';

/** The consumer group every built-in endpoint has. */
export const DEFAULT_GROUP = '$Default';

/** IoT Hub (standard tiers): at most 20 consumer groups per hub, $Default included. */
export const MAX_GROUPS = 20;

const NAME = /^[A-Za-z0-9._-]{1,50}$/;

export interface ConsumerGroup {
  readonly name: string;
  readonly createdTime: Date;
}

/** Consumer groups of a hub's built-in endpoint, compared case-insensitively. */
export class ConsumerGroups {
  readonly #pool: Pool;

  constructor(pool: Pool) {
    this.#pool = pool;
  }

  async list(hub: string): Promise<ConsumerGroup[]> {
    const r = await this.#pool.query<{ name: string; created_at: Date }>('SELECT name, created_at FROM messaging.consumer_groups WHERE hub = $1 ORDER BY name_key', [hub]);
    return [{ name: DEFAULT_GROUP, createdTime: new Date(0) }, ...r.rows.map((row) => ({ name: row.name, createdTime: row.created_at }))];
  }

  async create(hub: string, name: string): Promise<ConsumerGroup> {
    if (!NAME.test(name)) throw new ArgumentInvalidError('A consumer group name is 1 to 50 letters, digits, ".", "-" or "_".');
    if (name.toLowerCase() === DEFAULT_GROUP.toLowerCase()) throw new DomainError('EntityAlreadyExists', `The consumer group ${DEFAULT_GROUP} always exists.`);
    const r = await this.#pool.query<{ name: string; created_at: Date }>(
      `INSERT INTO messaging.consumer_groups (hub, name_key, name)
       SELECT $1, $2, $3 WHERE (SELECT count(*) FROM messaging.consumer_groups WHERE hub = $1) < $4
       ON CONFLICT (hub, name_key) DO NOTHING RETURNING name, created_at`,
      [hub, name.toLowerCase(), name, MAX_GROUPS - 1],
    );
    const row = r.rows[0];
    if (row) return { name: row.name, createdTime: row.created_at };
    const exists = await this.#pool.query('SELECT 1 FROM messaging.consumer_groups WHERE hub = $1 AND name_key = $2', [hub, name.toLowerCase()]);
    if (exists.rowCount) throw new DomainError('EntityAlreadyExists', `The consumer group ${name} already exists.`);
    throw new DomainError('IotHubQuotaExceeded', `A hub has at most ${MAX_GROUPS} consumer groups.`);
  }

  async delete(hub: string, name: string): Promise<void> {
    if (name.toLowerCase() === DEFAULT_GROUP.toLowerCase()) throw new ArgumentInvalidError(`The consumer group ${DEFAULT_GROUP} cannot be deleted.`);
    const r = await this.#pool.query('DELETE FROM messaging.consumer_groups WHERE hub = $1 AND name_key = $2', [hub, name.toLowerCase()]);
    if (!r.rowCount) throw new DomainError('NotFound', `No consumer group ${name}.`);
  }
}
