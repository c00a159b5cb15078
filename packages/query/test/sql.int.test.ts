import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testUrls } from '@openiothub/testing';
import type { PathRef } from '../src/ast.js';
import { compileCondition, parseExpression, readFromTwin, SqlParams, conditionSql, type SqlSchema } from '../src/index.js';

// Differential test: the SQL compiler must keep exactly the rows the in-memory evaluator (used by
// routing, with its own unit tests) says match, on random documents and random conditions. The
// documents sit in a temp table as jsonb; the schema maps every property to `doc #> path`, plus a
// text column for `name` and a GIN containment path for `tags`.

const db = new pg.Client({ connectionString: testUrls().databaseUrl });

const docSchema: SqlSchema = {
  field(path: PathRef, params: SqlParams) {
    if (path.root === 'name' && path.segments.length === 0) return { sql: 'name', kind: 'text' };
    return { sql: `(doc #> ${params.add([path.root, ...path.segments.map(String)])}::text[])`, kind: 'jsonb' };
  },
  container(path: PathRef) {
    if (path.root !== 'tags' || path.segments.some((s) => typeof s === 'number')) return undefined;
    return { column: "(doc -> 'tags')", segments: path.segments as string[] };
  },
};

// seeded PRNG so a failure reproduces
let seed = 42;
const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;

const SCALARS = ['US', 'EU', 'us', '', 'Ünï', 0, 1, 1.5, -3, 60, 300, true, false, null] as const;
const KEYS = ['a', 'b', 'c'] as const;
function randomValue(depth: number): unknown {
  const r = rnd();
  if (depth < 2 && r < 0.25) return Object.fromEntries(KEYS.filter(() => rnd() < 0.6).map((k) => [k, randomValue(depth + 1)]));
  if (r < 0.3) return [pick(SCALARS), pick(SCALARS)];
  return pick(SCALARS);
}
function randomDoc(i: number) {
  return {
    name: pick(['dev1', 'dev2', 'Dev1', 'x']) + (i % 3 === 0 ? '' : String(i % 2)),
    doc: Object.fromEntries(['tags', 'a', 'b'].filter(() => rnd() < 0.85).map((k) => [k, randomValue(0)])),
  };
}

const PATHS = ['tags', 'tags.a', 'tags.b', 'tags.a.b', 'a', 'a.c', 'b', 'b[0]', 'tags.c[1]', 'name', 'missing'];
const lit = () => {
  const v = pick([...SCALARS, undefined]);
  return v === undefined ? 'undefined' : v === null ? 'null' : typeof v === 'string' ? `'${v}'` : String(v);
};
function randomExpr(depth: number): string {
  const r = rnd();
  if (depth > 2 || r < 0.45) {
    const p = pick(PATHS);
    switch (Math.floor(rnd() * 7)) {
      case 0:
        return `${p} ${pick(['=', '!=', '<>'])} ${lit()}`;
      case 1:
        return rnd() < 0.5 ? `${p} ${pick(['<', '>', '<=', '>='])} ${lit()}` : `${lit()} ${pick(['<', '>', '<=', '>=', '=', '!='])} ${p}`;
      case 2:
        return `${p} ${pick(['IN', 'NIN'])} [${[lit(), lit(), lit()].join(', ')}]`;
      case 3:
        return `IS_DEFINED(${p})`;
      case 4:
        return `${p} ${pick(['=', '<', '>='])} ${pick(PATHS)}`;
      case 5:
        return `${p} ${pick(['+', '-', '*', '/', '%'])} ${lit()} ${pick(['=', '>'])} ${lit()}`;
      default:
        return p;
    }
  }
  if (r < 0.6) return `NOT (${randomExpr(depth + 1)})`;
  return `(${randomExpr(depth + 1)}) ${pick(['AND', 'OR'])} (${randomExpr(depth + 1)})`;
}

const rows = Array.from({ length: 60 }, (_, i) => randomDoc(i));

beforeAll(async () => {
  await db.connect();
  await db.query('CREATE TEMP TABLE qdocs (id int PRIMARY KEY, name text NOT NULL, doc jsonb NOT NULL)');
  for (const [i, r] of rows.entries()) await db.query('INSERT INTO qdocs VALUES ($1, $2, $3)', [i, r.name, JSON.stringify(r.doc)]);
});
afterAll(() => db.end());

async function sqlMatches(condition: string): Promise<number[]> {
  const params = new SqlParams();
  const where = conditionSql(parseExpression(condition, { dialect: 'twin' }), docSchema, params);
  const q = params.render(`SELECT id FROM qdocs WHERE ${where} ORDER BY id`);
  const res = await db.query<{ id: number }>(q.text, q.values);
  return res.rows.map((r) => r.id);
}

function memoryMatches(condition: string): number[] {
  const compiled = compileCondition(readFromTwin(parseExpression(condition, { dialect: 'twin' })));
  return rows.flatMap((r, i) => (compiled.matches({ systemProperties: {}, appProperties: {}, twin: { ...r.doc, name: r.name } }) ? [i] : []));
}

describe('twin query SQL ≡ the in-memory evaluator', () => {
  it('agrees on 1,000 random conditions over 60 random documents', async () => {
    let nonTrivial = 0;
    for (let n = 0; n < 1000; n++) {
      const condition = randomExpr(0);
      const expected = memoryMatches(condition);
      if (expected.length > 0 && expected.length < rows.length) nonTrivial++;
      expect({ condition, ids: await sqlMatches(condition) }).toEqual({ condition, ids: expected });
    }
    // the generator must produce conditions that split the rows, or agreement proves little
    expect(nonTrivial).toBeGreaterThan(250);
  });

  it('keeps literals and path segments out of the SQL text', () => {
    const params = new SqlParams();
    const sql = conditionSql(parseExpression("tags.[[x'; DROP TABLE t; --]] = 'a\\'; DROP TABLE t; --'", { dialect: 'twin' }), docSchema, params);
    expect(sql).not.toContain('DROP');
    expect(params.render(sql).values.flat().join(' ')).toContain('DROP TABLE');
  });

  it('uses the containment test only where a comparison must be TRUE', () => {
    const positive = new SqlParams();
    expect(conditionSql(parseExpression("tags.a.b = 'US'", { dialect: 'twin' }), docSchema, positive)).toContain('@>');
    expect(positive.render(conditionSql(parseExpression("tags.a.b = 'US'", { dialect: 'twin' }), docSchema, positive)).values).toContain(JSON.stringify({ a: { b: 'US' } }));
    const negated = new SqlParams();
    expect(conditionSql(parseExpression("NOT (tags.a.b = 'US')", { dialect: 'twin' }), docSchema, negated)).not.toContain('@>');
  });

  it('gives the routing evaluator and SQL the same answer for a name column compared with non-strings', async () => {
    expect(await sqlMatches('name = 5')).toEqual([]);
    expect(await sqlMatches('NOT (name = 5)')).toEqual([]);
    expect(await sqlMatches('name != null')).toEqual(rows.map((_, i) => i));
    expect(await sqlMatches("name IN ['dev1', 5]")).toEqual(memoryMatches("name IN ['dev1', 5]"));
  });
});



