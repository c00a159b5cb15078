import { ArgumentInvalidError } from '@openiothub/errors';
import type { Pool } from '@openiothub/postgres';
import { aggregatesSql, conditionSql, jsonbSql, parseSelect, QuerySyntaxError, SqlParams, type SelectItem, type SelectStatement, type SqlSchema } from '@openiothub/query';
import type { JsonObject } from '../domain/limits.js';
import { serviceView, type IdentityInfo } from '../domain/twin-service.js';
import { newTwin, type TwinState } from '../domain/twin.js';
import { toState } from '../store/twin-store.js';
import { devices, modules, type Collection } from './collections.js';

export const DEFAULT_PAGE_SIZE = 100;
/** Internal callers (the jobs service listing a job's devices) may ask for big pages; the REST API caps at 100. */
export const MAX_PAGE_SIZE = 10_000;

export interface QueryPage {
  readonly items: unknown[];
  /** Absent on the last page (the SDK's hasMoreResults is `token !== undefined`). */
  readonly continuation?: string;
  readonly itemType: 'Twin' | 'Raw';
}

/** Where the next page starts: after key `k` (row queries) or at offset `o` (aggregates); `n` rows already returned (TOP). */
interface Cursor {
  k?: string[];
  o?: number;
  n: number;
}

/** Parses a query, refusing bad input with IoT Hub's 400 and the position of the fault. */
export function parseQuery(text: string): SelectStatement {
  if (typeof text !== 'string' || text.trim() === '') throw new ArgumentInvalidError('The query is missing: send {"query": "SELECT … FROM devices …"}.');
  try {
    return parseSelect(text);
  } catch (err) {
    if (err instanceof QuerySyntaxError) throw new ArgumentInvalidError(`Invalid query: ${err.message}`, { position: err.position });
    throw err;
  }
}

/**
 * Twin and module-twin queries (devguide §16), one page per call, straight from Postgres: a write
 * that returned is visible to the next query. Row queries page by key (device id, module id), so
 * a page costs the same at any depth; aggregate queries page by offset over their groups.
 */
export class TwinQueryEngine {
  constructor(private readonly pool: Pool) {}

  async query(hub: string, text: string, pageSize: number, continuation: string): Promise<QueryPage> {
    const stmt = parseQuery(text);
    if (stmt.from === 'devices.jobs') throw new ArgumentInvalidError('devices.jobs queries are answered by the jobs service.');
    const size = pageSize > 0 ? Math.min(pageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
    const cursor = decodeCursor(continuation);
    const collection = stmt.from === 'devices' ? devices : modules;
    const remaining = stmt.top === undefined ? Infinity : stmt.top - cursor.n;
    if (remaining <= 0) return { items: [], itemType: stmt.projection === '*' ? 'Twin' : 'Raw' };
    const limit = Math.min(size, remaining);
    return stmt.aggregated ? this.#aggregates(hub, stmt, collection, cursor, limit) : this.#rows(hub, stmt, collection, cursor, limit);
  }

  /** How many devices a `SELECT … FROM devices [WHERE …]` query selects (configuration metrics). */
  async count(hub: string, text: string): Promise<number> {
    const stmt = parseQuery(text);
    if (stmt.from !== 'devices') throw new ArgumentInvalidError('Only queries on devices can be counted.');
    const params = new SqlParams();
    const where = [`${devices.hub} = ${params.add(hub)}`];
    if (stmt.where) where.push(conditionSql(stmt.where, devices.schema, params));
    const q = params.render(`SELECT count(*) AS n FROM ${devices.from} WHERE ${where.join(' AND ')}`);
    const { rows } = await this.pool.query<{ n: string }>(q.text, q.values);
    return Number(rows[0]!.n);
  }

  /**
   * Device rows (identity columns and twin) of a hub matching a SQL condition built by `where`
   * with this collection's schema, after `afterDeviceId`, in device-id order: the configuration
   * reconciler's candidates.
   */
  async deviceRows(hub: string, where: (schema: SqlSchema, params: SqlParams) => string, afterDeviceId: string, limit: number): Promise<Row[]> {
    const params = new SqlParams();
    const text = `SELECT ${devices.columns} FROM ${devices.from} WHERE ${devices.hub} = ${params.add(hub)} AND d.device_id > ${params.add(afterDeviceId)}::text AND (${where(devices.schema, params)}) ORDER BY d.device_id LIMIT ${limit}`;
    const q = params.render(text);
    return (await this.pool.query<Row>(q.text, q.values)).rows;
  }

  async #rows(hub: string, stmt: SelectStatement, c: Collection, cursor: Cursor, limit: number): Promise<QueryPage> {
    const params = new SqlParams();
    const where = [`${c.hub} = ${params.add(hub)}`];
    if (stmt.where) where.push(conditionSql(stmt.where, c.schema, params));
    if (cursor.k) {
      if (cursor.k.length !== c.key.length) throw badToken();
      where.push(`(${c.key.join(', ')}) > (${cursor.k.map((k) => `${params.add(k)}::text`).join(', ')})`);
    }
    const q = params.render(`SELECT ${c.columns} FROM ${c.from} WHERE ${where.join(' AND ')} ORDER BY ${c.key.join(', ')} LIMIT ${limit + 1}`);
    const { rows } = await this.pool.query<Row>(q.text, q.values);
    const page = rows.slice(0, limit);
    const twins = page.map(renderTwin);
    const items = stmt.projection === '*' ? twins : twins.map((t) => project(t, stmt.projection as readonly SelectItem[]));
    const last = page[page.length - 1];
    const more = rows.length > limit && last !== undefined && (stmt.top === undefined || cursor.n + page.length < stmt.top);
    const next: Cursor | undefined = more ? { k: c.key.length === 1 ? [last.device_id] : [last.device_id, last.module_id], n: cursor.n + page.length } : undefined;
    return { items, continuation: next && encodeCursor(next), itemType: stmt.projection === '*' ? 'Twin' : 'Raw' };
  }

  async #aggregates(hub: string, stmt: SelectStatement, c: Collection, cursor: Cursor, limit: number): Promise<QueryPage> {
    const params = new SqlParams();
    const groups = stmt.groupBy.map((g) => jsonbSql(g, c.schema, params));
    const aggs = aggregatesSql(stmt, c.schema, params);
    const where = [`${c.hub} = ${params.add(hub)}`];
    if (stmt.where) where.push(conditionSql(stmt.where, c.schema, params));
    const select = [...groups.map((g, i) => `${g} AS g${i}`), ...aggs.map((a, i) => `${a.sql} AS a${i}`)].join(', ');
    const offset = cursor.o ?? 0;
    const grouping = groups.length > 0 ? ` GROUP BY ${groups.map((_, i) => i + 1).join(', ')} ORDER BY ${groups.map((_, i) => i + 1).join(', ')}` : '';
    const q = params.render(`SELECT ${select} FROM ${c.from} WHERE ${where.join(' AND ')}${grouping} OFFSET ${offset} LIMIT ${limit + 1}`);
    const { rows } = await this.pool.query<Record<string, unknown>>(q.text, q.values);
    const page = rows.slice(0, limit);
    const items = page.map((r) => {
      const out: Record<string, unknown> = {};
      let a = 0;
      for (const item of stmt.projection as readonly SelectItem[]) {
        const v = item.kind === 'aggregate' ? numeric(r[`a${a++}`]) : r[`g${stmt.groupBy.findIndex((g) => pathKey(g) === pathKey(item.path))}`];
        if (v !== null && v !== undefined) out[item.alias] = v;
      }
      return out;
    });
    const more = rows.length > limit && (stmt.top === undefined || cursor.n + page.length < stmt.top);
    return { items, continuation: more ? encodeCursor({ o: offset + page.length, n: cursor.n + page.length }) : undefined, itemType: 'Raw' };
  }
}

export type Row = Record<string, unknown> & { device_id: string; module_id: string };

const NEVER = '0001-01-01T00:00:00Z';
const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : NEVER);

/** The identity fields of a twin, from a query row (the registry's columns). */
export function identityOf(r: Row): IdentityInfo {
  return {
    deviceId: r.device_id,
    moduleId: r.module_id,
    generationId: r['generation_id'] as string,
    deviceEtag: Buffer.from(String(r['identity_version'])).toString('base64'),
    status: r['status'] as string,
    statusReason: r['status_reason'] as string,
    statusUpdateTime: iso(r['status_updated_time']),
    connectionState: r['connection_state'] as string,
    lastActivityTime: iso(r['last_activity_time']),
    cloudToDeviceMessageCount: Number(r['c2d_message_count']),
    authenticationType: r['auth_type'] as string,
    x509Thumbprint: { primaryThumbprint: (r['primary_thumbprint'] as string) || null, secondaryThumbprint: (r['secondary_thumbprint'] as string) || null },
    iotEdge: Boolean(r['iot_edge']),
  };
}

/** The twin exactly as GET /twins/{id} shows it, from one query row. */
function renderTwin(r: Row): JsonObject {
  const fresh = r['version'] === null;
  const state: TwinState = fresh ? newTwin(iso(r['created_at'])) : toState(r);
  return serviceView(identityOf(r), state);
}

/** A projection row: each named property (root names case-insensitively), missing ones left out. */
function project(twin: JsonObject, items: readonly SelectItem[]): JsonObject {
  const out: JsonObject = {};
  for (const item of items) {
    if (item.kind !== 'path') continue;
    const rootKey = Object.keys(twin).find((k) => k.toLowerCase() === item.path.root.toLowerCase());
    let v: unknown = rootKey === undefined ? undefined : twin[rootKey];
    for (const seg of item.path.segments) {
      if (v === null || typeof v !== 'object') {
        v = undefined;
        break;
      }
      v = (v as Record<string, unknown>)[String(seg)];
    }
    if (v !== undefined) out[item.alias] = v as JsonObject[string];
  }
  return out;
}

const pathKey = (p: { root: string; segments: readonly (string | number)[] }) => [p.root.toLowerCase(), ...p.segments].join('\u0001');

function numeric(v: unknown): number | null {
  if (v === null || v === undefined) return null;
  return Number(v);
}

const badToken = () => new ArgumentInvalidError('The continuation token is not valid for this query.');

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url');
}

export function decodeCursor(token: string): Cursor {
  if (!token) return { n: 0 };
  try {
    const c = JSON.parse(Buffer.from(token, 'base64url').toString()) as Cursor;
    const keysOk = c.k === undefined || (Array.isArray(c.k) && c.k.every((k) => typeof k === 'string'));
    if (typeof c.n === 'number' && Number.isInteger(c.n) && c.n >= 0 && keysOk && (c.o === undefined || (Number.isInteger(c.o) && c.o >= 0))) return c;
  } catch {
    // fall through
  }
  throw badToken();
}
