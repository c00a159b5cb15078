import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testUrls, uniqueName } from '@openiothub/testing';
import { createPool, migrate, type Pool } from '../src/index.js';

// "Migrations run safely with N replicas" (the chart starts every replica at once): eight
// processes' worth of pools migrate one fresh schema together; each file is applied once, and a
// later start with a new file applies only that one.

const pools: Pool[] = [];
afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()));
});

describe('migrate', () => {
  it('applies each file exactly once when eight replicas start together', async () => {
    const schema = uniqueName('mig').replace(/-/g, '_');
    const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
    writeFileSync(join(dir, '0001_init.sql'), `CREATE TABLE ${schema}.things (id int PRIMARY KEY);`);
    // not idempotent on purpose: a second application would fail on the duplicate key
    writeFileSync(join(dir, '0002_seed.sql'), `INSERT INTO ${schema}.things VALUES (1), (2);`);
    writeFileSync(join(dir, 'README.md'), 'not a migration');
    for (let i = 0; i < 8; i += 1) pools.push(createPool(testUrls().databaseUrl, `replica-${i}`, 2));
    const results = await Promise.all(pools.map((p) => migrate(p, schema, dir)));
    expect(results.flat().sort()).toEqual(['0001_init.sql', '0002_seed.sql']);
    expect(results.filter((r) => r.length > 0)).toHaveLength(1);
    const db = pools[0]!;
    expect((await db.query(`SELECT count(*)::int AS n FROM ${schema}.things`)).rows[0]).toEqual({ n: 2 });
    expect((await db.query(`SELECT name FROM ${schema}.schema_migrations ORDER BY name`)).rows.map((r: { name: string }) => r.name)).toEqual(['0001_init.sql', '0002_seed.sql']);

    writeFileSync(join(dir, '0003_more.sql'), `INSERT INTO ${schema}.things VALUES (3);`);
    const again = await Promise.all(pools.slice(0, 4).map((p) => migrate(p, schema, dir)));
    expect(again.flat()).toEqual(['0003_more.sql']);
    expect((await db.query(`SELECT count(*)::int AS n FROM ${schema}.things`)).rows[0]).toEqual({ n: 3 });
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
  });
});
