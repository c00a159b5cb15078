/**
 * Compiles twin/job query expressions to parameterised Postgres SQL. Nothing from the query text
 * is ever spliced into SQL: literals and property-path segments travel as bind parameters; the
 * only SQL text is what this file and the collection's {@link SqlSchema} write.
 *
 * Semantics are those of the in-memory evaluator (evaluate.ts), with SQL NULL standing for
 * `undefined`: SQL's three-valued AND/OR/NOT is the query language's, and WHERE keeps a row only
 * when its condition is TRUE. Values are jsonb (a missing property is NULL); equality holds
 * between scalars of one type (null equals only null; mixed types and objects are undefined);
 * ordering compares numbers with numbers and strings with strings (code-point order); arithmetic
 * is on numbers only; a condition that is not a Boolean is undefined.
 *
 * Speed: a schema may mark a property as a non-null text column (deviceId, status…), which turns
 * `deviceId = 'x'` and `deviceId IN [...]` into plain column predicates, and may name a jsonb
 * column a property lies in (tags, desired, reported), which adds a containment test
 * `column @> '{"location":{"region":"US"}}'` that a GIN index answers. The containment test is
 * added only where the comparison must be TRUE for the row to be kept (not under NOT), and always
 * beside the exact test, so it narrows the scan without changing any answer.
 */
import type { Expr, PathRef } from './ast.js';
import { QuerySyntaxError } from './errors.js';
import type { SelectStatement } from './select.js';

/** A SQL value: `text` is a non-null text column; `jsonb` may be NULL (undefined); `bool` is a SQL boolean (NULL = undefined). */
export interface SqlValue {
  readonly sql: string;
  readonly kind: 'text' | 'jsonb' | 'bool';
}

// a parameter marker: NUL never occurs in SQL this package writes, and query text never reaches it
const MARK = String.fromCharCode(0);
const MARKER = new RegExp(`${MARK}(\\d+)${MARK}`, 'g');

/**
 * Bind parameters collected while compiling. `add` returns a marker; `render` turns the finished
 * SQL's markers into `$1…$n` in order of appearance and keeps only the values the SQL still uses
 * (a branch the compiler dropped, say `deviceId = 5`, leaves its literal unused).
 */
export class SqlParams {
  readonly #values: unknown[] = [];
  add(value: unknown): string {
    this.#values.push(value);
    return `${MARK}${this.#values.length - 1}${MARK}`;
  }
  render(sql: string): { text: string; values: unknown[] } {
    const values: unknown[] = [];
    const placed = new Map<number, string>();
    const text = sql.replace(MARKER, (_, i: string) => {
      const index = Number(i);
      let ph = placed.get(index);
      if (!ph) {
        values.push(this.#values[index]);
        ph = `$${values.length}`;
        placed.set(index, ph);
      }
      return ph;
    });
    return { text, values };
  }
}

/** How one collection's rows hold the properties a query names. */
export interface SqlSchema {
  /** The SQL for a property, or undefined when rows never have it (the value is `undefined`). */
  field(path: PathRef, params: SqlParams): SqlValue | undefined;
  /** The jsonb column a property lies in and its path inside it, when that column has a containment (GIN) index. */
  container?(path: PathRef): { column: string; segments: readonly string[] } | undefined;
}

const SCALAR_TYPES = `('string','number','boolean','null')`;

/** Compiles a WHERE condition to a SQL boolean. */
export function conditionSql(expr: Expr, schema: SqlSchema, params: SqlParams): string {
  return new Compiler(schema, params).bool(expr, true);
}

/** Compiles a value expression (a projection or GROUP BY path) to a nullable jsonb SQL expression. */
export function jsonbSql(expr: Expr, schema: SqlSchema, params: SqlParams): string {
  const c = new Compiler(schema, params);
  return c.jsonb(c.value(expr));
}

/** The SQL for a statement's aggregates, in projection order; COUNT counts rows, the others take numbers only. */
export function aggregatesSql(stmt: SelectStatement, schema: SqlSchema, params: SqlParams): { alias: string; sql: string; fn: string }[] {
  if (stmt.projection === '*') return [];
  const out: { alias: string; sql: string; fn: string }[] = [];
  for (const item of stmt.projection) {
    if (item.kind !== 'aggregate') continue;
    if (item.fn === 'COUNT') {
      out.push({ alias: item.alias, fn: item.fn, sql: 'count(*)' });
      continue;
    }
    const v = jsonbSql(item.path!, schema, params);
    const num = `CASE WHEN jsonb_typeof(${v}) = 'number' THEN (${v})::numeric END`;
    out.push({ alias: item.alias, fn: item.fn, sql: `${item.fn.toLowerCase()}(${num})` });
  }
  return out;
}

class Compiler {
  constructor(
    private readonly schema: SqlSchema,
    private readonly params: SqlParams,
  ) {}

  /** A condition. `positive`: the row is kept only if this is TRUE (no NOT above it). */
  bool(e: Expr, positive: boolean): string {
    switch (e.kind) {
      case 'binary':
        switch (e.op) {
          case 'AND':
          case 'OR':
            return `(${this.bool(e.left, positive)} ${e.op} ${this.bool(e.right, positive)})`;
          case '=':
            return this.equality(e.left, e.right, positive);
          case '!=': {
            const eq = this.equality(e.left, e.right, false);
            return `(NOT ${eq})`;
          }
          case '<':
          case '>':
          case '<=':
          case '>=':
            return this.ordering(e.op, e.left, e.right);
          case 'IN':
          case 'NIN':
            return this.membership(e.op, e.left, e.right);
          default:
            return 'NULL::boolean'; // arithmetic is a number, never TRUE
        }
      case 'unary':
        return e.op === 'NOT' ? `(NOT ${this.bool(e.operand, !positive)})` : 'NULL::boolean';
      default:
        return this.asBool(this.value(e));
    }
  }

  value(e: Expr): SqlValue {
    switch (e.kind) {
      case 'literal':
        if (e.value === undefined) return { sql: 'NULL::jsonb', kind: 'jsonb' };
        if (typeof e.value === 'boolean') return { sql: e.value ? 'TRUE' : 'FALSE', kind: 'bool' };
        return { sql: `${this.params.add(JSON.stringify(e.value))}::jsonb`, kind: 'jsonb' };
      case 'path':
        return this.schema.field(e, this.params) ?? { sql: 'NULL::jsonb', kind: 'jsonb' };
      case 'array': {
        const items = e.items.map((i) => literalValue(i));
        if (items.some((i) => i === NOT_LITERAL)) return { sql: 'NULL::jsonb', kind: 'jsonb' };
        return { sql: `${this.params.add(JSON.stringify(items.map((i) => (i === undefined ? null : i))))}::jsonb`, kind: 'jsonb' };
      }
      case 'call': {
        // the twin dialect has IS_DEFINED only (the parser refuses the others)
        if (e.name !== 'IS_DEFINED') throw new QuerySyntaxError(`function ${e.name} is not available in twin queries`, e.pos);
        const v = this.value(e.args[0]!);
        return { sql: v.kind === 'text' ? 'TRUE' : `(${v.sql} IS NOT NULL)`, kind: 'bool' };
      }
      case 'unary': {
        if (e.op === 'NOT') return { sql: this.bool(e, false), kind: 'bool' };
        const v = this.jsonb(this.value(e.operand));
        return { sql: `CASE WHEN jsonb_typeof(${v}) = 'number' THEN to_jsonb(-((${v})::numeric)) END`, kind: 'jsonb' };
      }
      case 'binary': {
        if (['AND', 'OR', '=', '!=', '<', '>', '<=', '>=', 'IN', 'NIN'].includes(e.op)) return { sql: this.bool(e, false), kind: 'bool' };
        const l = this.jsonb(this.value(e.left));
        const r = this.jsonb(this.value(e.right));
        const ln = `(${l})::numeric`;
        const rn = `(${r})::numeric`;
        const op = e.op === '/' || e.op === '%' ? `${ln} ${e.op} NULLIF(${rn}, 0)` : `${ln} ${e.op} ${rn}`;
        return { sql: `CASE WHEN jsonb_typeof(${l}) = 'number' AND jsonb_typeof(${r}) = 'number' THEN to_jsonb(${op}) END`, kind: 'jsonb' };
      }
    }
  }

  jsonb(v: SqlValue): string {
    return v.kind === 'jsonb' ? v.sql : `to_jsonb(${v.sql})`;
  }

  private asBool(v: SqlValue): string {
    if (v.kind === 'bool') return v.sql;
    if (v.kind === 'text') return 'NULL::boolean';
    return `CASE WHEN jsonb_typeof(${v.sql}) = 'boolean' THEN ${v.sql} = 'true'::jsonb END`;
  }

  private equality(left: Expr, right: Expr, positive: boolean): string {
    const l = this.value(left);
    const r = this.value(right);
    const exact = this.exactEquals(l, r, left, right);
    if (!positive) return exact;
    const fast = this.containment(left, right) ?? this.containment(right, left);
    return fast ? `(${fast} AND ${exact})` : exact;
  }

  /** `column @> {"a":{"b":value}}` when `path = value` is a scalar literal inside an indexed jsonb column. */
  private containment(pathExpr: Expr, literal: Expr): string | undefined {
    if (pathExpr.kind !== 'path' || literal.kind !== 'literal' || !this.schema.container) return undefined;
    if (literal.value === null || literal.value === undefined) return undefined;
    const where = this.schema.container(pathExpr);
    if (!where || where.segments.length === 0) return undefined;
    let doc: unknown = literal.value;
    for (let i = where.segments.length - 1; i >= 0; i--) doc = { [where.segments[i]!]: doc };
    return `${where.column} @> ${this.params.add(JSON.stringify(doc))}::jsonb`;
  }

  private exactEquals(l: SqlValue, r: SqlValue, left: Expr, right: Expr): string {
    if (l.kind === 'text' && r.kind === 'text') return `(${l.sql} = ${r.sql})`;
    const text = l.kind === 'text' ? l : r.kind === 'text' ? r : undefined;
    const other = text === l ? right : left;
    if (text && other.kind === 'literal') {
      if (typeof other.value === 'string') return `(${text.sql} = ${this.params.add(other.value)}::text)`;
      return other.value === null ? 'FALSE' : 'NULL::boolean';
    }
    if (l.kind === 'jsonb' && (right.kind === 'literal' || left.kind === 'literal')) {
      const [col, lit] = right.kind === 'literal' ? [l, right] : [r, left];
      if (col.kind === 'jsonb' && lit.kind === 'literal' && lit.value !== undefined) return this.equalsLiteral(col.sql, lit.value);
    }
    const a = this.jsonb(l);
    const b = this.jsonb(r);
    return (
      `(CASE WHEN jsonb_typeof(${a}) IN ('object','array') OR jsonb_typeof(${b}) IN ('object','array') THEN NULL` +
      ` WHEN jsonb_typeof(${a}) = 'null' OR jsonb_typeof(${b}) = 'null' THEN jsonb_typeof(${a}) = jsonb_typeof(${b})` +
      ` WHEN jsonb_typeof(${a}) = jsonb_typeof(${b}) THEN ${a} = ${b} END)`
    );
  }

  /** A jsonb value equal to a scalar literal: same rules as the general case, one type test per row. */
  private equalsLiteral(a: string, v: string | number | boolean | null): string {
    if (v === null) return `(CASE WHEN jsonb_typeof(${a}) IN ('object','array') THEN NULL ELSE jsonb_typeof(${a}) = 'null' END)`;
    const type = typeof v === 'number' ? 'number' : typeof v === 'string' ? 'string' : 'boolean';
    return `(CASE jsonb_typeof(${a}) WHEN '${type}' THEN ${a} = ${this.params.add(JSON.stringify(v))}::jsonb WHEN 'null' THEN FALSE END)`;
  }

  private ordering(op: '<' | '>' | '<=' | '>=', left: Expr, right: Expr): string {
    // a literal on one side fixes the type to compare in: one test per row instead of two
    if (left.kind === 'literal' && right.kind !== 'literal') return this.ordering(MIRROR[op], right, left);
    const l = this.value(left);
    if (right.kind === 'literal') {
      const v = right.value;
      if (typeof v === 'number') {
        if (l.kind !== 'jsonb') return 'NULL::boolean';
        return `(CASE WHEN jsonb_typeof(${l.sql}) = 'number' THEN (${l.sql})::numeric ${op} ${this.params.add(v)}::numeric END)`;
      }
      if (typeof v === 'string') {
        const p = `${this.params.add(v)}::text COLLATE "C"`;
        if (l.kind === 'text') return `(${l.sql} COLLATE "C" ${op} ${p})`;
        if (l.kind === 'bool') return 'NULL::boolean';
        return `(CASE WHEN jsonb_typeof(${l.sql}) = 'string' THEN (${l.sql} #>> '{}') COLLATE "C" ${op} ${p} END)`;
      }
      return 'NULL::boolean';
    }
    const r = this.value(right);
    if (l.kind === 'text' && r.kind === 'text') return `(${l.sql} COLLATE "C" ${op} ${r.sql} COLLATE "C")`;
    const a = this.jsonb(l);
    const b = this.jsonb(r);
    return (
      `(CASE WHEN jsonb_typeof(${a}) = 'number' AND jsonb_typeof(${b}) = 'number' THEN (${a})::numeric ${op} (${b})::numeric` +
      ` WHEN jsonb_typeof(${a}) = 'string' AND jsonb_typeof(${b}) = 'string' THEN (${a} #>> '{}') COLLATE "C" ${op} (${b} #>> '{}') COLLATE "C" END)`
    );
  }

  private membership(op: 'IN' | 'NIN', left: Expr, right: Expr): string {
    const l = this.value(left);
    const items = right.kind === 'array' ? right.items : [];
    const literals = items.map((i) => literalValue(i));
    const allLiteral = literals.every((v) => v !== NOT_LITERAL);
    let found: string;
    if (l.kind === 'text' && allLiteral) {
      const strings = literals.filter((v): v is string => typeof v === 'string');
      found = `(${l.sql} = ANY(${this.params.add(strings)}::text[]))`;
    } else if (allLiteral) {
      const a = this.jsonb(l);
      const scalars = literals.filter((v) => v !== undefined && (v === null || typeof v !== 'object')).map((v) => JSON.stringify(v));
      found = `(CASE WHEN jsonb_typeof(${a}) IN ${SCALAR_TYPES} THEN ${a} = ANY(${this.params.add(scalars)}::jsonb[]) END)`;
    } else {
      const a = this.jsonb(l);
      const eqs = items.map((item) => `COALESCE(${this.exactEquals(l, this.value(item), left, item)}, FALSE)`);
      found = `(CASE WHEN jsonb_typeof(${a}) IN ${SCALAR_TYPES} THEN ${eqs.length > 0 ? eqs.join(' OR ') : 'FALSE'} END)`;
    }
    return op === 'IN' ? found : `(NOT ${found})`;
  }
}

const NOT_LITERAL = Symbol('not a literal');
const MIRROR = { '<': '>', '>': '<', '<=': '>=', '>=': '<=' } as const;

function literalValue(e: Expr): unknown {
  if (e.kind === 'literal') return e.value;
  if (e.kind === 'array') {
    const items = e.items.map(literalValue);
    return items.some((i) => i === NOT_LITERAL) ? NOT_LITERAL : items;
  }
  return NOT_LITERAL;
}
