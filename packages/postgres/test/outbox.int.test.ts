import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testUrls, uniqueName } from '@openiothub/testing';
import { createPool, OutboxRelay, withTransaction, writeOutbox, type Pool } from '../src/index.js';

// The transactional outbox: what a service wrote with its change reaches the bus after the commit,
// in the order written, once per relay pass that succeeds, and stays when a publish fails.

let pool: Pool;
const schema = uniqueName('outbox').replace(/-/g, '_');

beforeAll(async () => {
  pool = createPool(testUrls().databaseUrl, 'outbox-int', 8);
  await pool.query(`CREATE SCHEMA ${schema}`);
  await pool.query(`CREATE TABLE ${schema}.outbox (id bigserial PRIMARY KEY, event_id uuid NOT NULL, subject text NOT NULL, headers jsonb NOT NULL, body bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`);
});

afterAll(async () => {
  await pool.query(`DROP SCHEMA ${schema} CASCADE`);
  await pool.end();
});

const write = (n: number, from = 0) =>
  withTransaction(pool, async (c) => {
    for (let i = from; i < from + n; i++) await writeOutbox(c, schema, { subject: `s.${i}`, headers: { n: String(i) }, body: Buffer.from(`event ${i}`) });
  });
const left = async () => Number((await pool.query(`SELECT count(*) FROM ${schema}.outbox`)).rows[0].count);

describe('outbox relay', () => {
  it('publishes every event once, in the order written, across batches', async () => {
    await write(250);
    const seen: string[] = [];
    const relay = new OutboxRelay({ pool, schema, batch: 100, onError: (err) => { throw err; }, publish: async (subject, headers, body) => void seen.push(`${subject}|${headers['n']}|${body.toString()}`) });
    await relay.flush();
    expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => `s.${i}|${i}|event ${i}`));
    expect(await left()).toBe(0);
  });

  it('keeps the events of a pass whose publish failed, and publishes them on the next', async () => {
    await write(5, 1000);
    const seen: string[] = [];
    let fail = true;
    const errors: unknown[] = [];
    const relay = new OutboxRelay({
      pool,
      schema,
      onError: (err) => errors.push(err),
      publish: async (subject) => {
        if (fail && subject === 's.1003') throw new Error('bus down');
        seen.push(subject);
      },
    });
    await expect(relay.flush()).rejects.toThrow('bus down');
    expect(await left()).toBe(5);
    fail = false;
    await relay.flush();
    expect(seen.slice(-5)).toEqual(['s.1000', 's.1001', 's.1002', 's.1003', 's.1004']);
    expect(await left()).toBe(0);
  });

  it('shares the work between concurrent relays without publishing an event twice', async () => {
    await write(400, 2000);
    const seen: string[] = [];
    const relays = Array.from({ length: 4 }, () => new OutboxRelay({ pool, schema, batch: 25, onError: (err) => { throw err; }, publish: async (subject) => void seen.push(subject) }));
    await Promise.all(relays.map((r) => r.flush()));
    expect(seen).toHaveLength(400);
    expect(new Set(seen).size).toBe(400);
    expect(await left()).toBe(0);
  });
});
