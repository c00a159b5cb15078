/**
 * The SELECT statement of twin, module and job queries (devguide §16.5):
 *
 *   query      := SELECT [ TOP integer ] projection FROM collection [ WHERE expr ] [ GROUP BY path ( ',' path )* ]
 *   projection := '*' | item ( ',' item )*
 *   item       := ( aggregate | path ) [ AS name ]
 *   aggregate  := COUNT '(' ')' | ( AVG | SUM | MIN | MAX ) '(' path ')'
 *   collection := devices | devices.modules | devices.jobs
 *
 * Keywords are case-insensitive. The WHERE clause is an expression of the `twin` dialect (only
 * IS_DEFINED among the functions). Rules IoT Hub enforces beyond the grammar, each a syntax error
 * at the offending position: `devices.jobs` takes only `SELECT *`, no aggregates and no GROUP BY;
 * in a GROUP BY query every plain projection must be one of the grouping paths.
 */
import type { Expr, PathRef } from './ast.js';
import { QuerySyntaxError } from './errors.js';
import { tokenize } from './lexer.js';
import { Parser } from './parser.js';

export type Collection = 'devices' | 'devices.modules' | 'devices.jobs';
export type AggregateFn = 'COUNT' | 'AVG' | 'SUM' | 'MIN' | 'MAX';

export type SelectItem =
  | { readonly kind: 'path'; readonly path: PathRef; readonly alias: string }
  | { readonly kind: 'aggregate'; readonly fn: AggregateFn; readonly path?: PathRef; readonly alias: string };

export interface SelectStatement {
  readonly top?: number;
  /** `'*'`, or the projected items with the names they take in each result row. */
  readonly projection: '*' | readonly SelectItem[];
  readonly from: Collection;
  readonly where?: Expr;
  readonly groupBy: readonly PathRef[];
  /** True when the rows are aggregates (an aggregate in the projection or a GROUP BY). */
  readonly aggregated: boolean;
}

const AGGREGATES = new Set<string>(['COUNT', 'AVG', 'SUM', 'MIN', 'MAX']);
const CLAUSE_WORDS = new Set(['FROM', 'WHERE', 'GROUP', 'BY', 'AS', 'TOP', 'SELECT']);

/** Parses a whole query. Throws only {@link QuerySyntaxError}. */
export function parseSelect(text: string): SelectStatement {
  const p = new Parser(tokenize(text), 'twin');
  if (!p.isKeyword('SELECT')) p.fail('SELECT');
  p.next();
  let top: number | undefined;
  if (p.isKeyword('TOP')) {
    p.next();
    const t = p.peek;
    if (t.kind !== 'number' || !Number.isInteger(t.value) || t.value! < 0 || t.value! > 2 ** 31) p.fail('a non-negative integer after TOP');
    p.next();
    top = t.value!;
  }
  let projection: '*' | SelectItem[];
  if (p.isPunct('*')) {
    p.next();
    projection = '*';
  } else {
    projection = [selectItem(p, 1)];
    while (p.isPunct(',')) {
      p.next();
      projection.push(selectItem(p, projection.length + 1));
    }
  }
  if (!p.isKeyword('FROM')) p.fail(projection === '*' ? 'FROM' : "',' or FROM");
  p.next();
  const fromToken = p.peek;
  const from = collection(p);
  let where: Expr | undefined;
  if (p.isKeyword('WHERE')) {
    p.next();
    where = p.expression();
  }
  const groupBy: PathRef[] = [];
  if (p.isKeyword('GROUP')) {
    const groupToken = p.next();
    if (!p.isKeyword('BY')) p.fail('BY after GROUP');
    p.next();
    groupBy.push(groupPath(p));
    while (p.isPunct(',')) {
      p.next();
      groupBy.push(groupPath(p));
    }
    if (from !== 'devices') throw new QuerySyntaxError(`GROUP BY is supported only on devices, not on ${from}`, groupToken.pos);
  }
  p.expectEnd();
  const hasAggregate = projection !== '*' && projection.some((i) => i.kind === 'aggregate');
  if (from === 'devices.jobs' && projection !== '*') {
    throw new QuerySyntaxError('queries on devices.jobs support only SELECT *', fromToken.pos);
  }
  if (groupBy.length > 0 && projection === '*') throw new QuerySyntaxError('a GROUP BY query must project its groups and aggregates, not *', fromToken.pos);
  if (groupBy.length > 0 && projection !== '*') {
    for (const item of projection) {
      if (item.kind === 'path' && !groupBy.some((g) => samePath(g, item.path))) {
        throw new QuerySyntaxError(`${pathText(item.path)} is neither aggregated nor in GROUP BY`, item.path.pos);
      }
    }
  }
  if (hasAggregate && groupBy.length === 0 && projection !== '*') {
    const plain = projection.find((i) => i.kind === 'path');
    if (plain && plain.kind === 'path') throw new QuerySyntaxError(`${pathText(plain.path)} is neither aggregated nor in GROUP BY`, plain.path.pos);
  }
  return { top, projection, from, where, groupBy, aggregated: hasAggregate || groupBy.length > 0 };
}

function selectItem(p: Parser, ordinal: number): SelectItem {
  const t = p.peek;
  if (t.kind === 'ident' && AGGREGATES.has(t.text.toUpperCase()) && p.isPunct('(', p.lookahead(1))) {
    const fn = t.text.toUpperCase() as AggregateFn;
    p.next();
    p.expectPunct('(');
    let path: PathRef | undefined;
    if (fn !== 'COUNT') path = plainPath(p);
    p.expectPunct(')');
    return { kind: 'aggregate', fn, path, alias: alias(p) ?? `$${ordinal}` };
  }
  const path = plainPath(p);
  const last = path.segments.length > 0 ? path.segments[path.segments.length - 1]! : path.root;
  return { kind: 'path', path, alias: alias(p) ?? String(last) };
}

function alias(p: Parser): string | undefined {
  if (!p.isKeyword('AS')) return undefined;
  p.next();
  const t = p.peek;
  if ((t.kind !== 'ident' && t.kind !== 'escaped') || (t.kind === 'ident' && CLAUSE_WORDS.has(t.text.toUpperCase()))) p.fail('a name after AS');
  p.next();
  return t.text;
}

function plainPath(p: Parser): PathRef {
  const t = p.peek;
  if ((t.kind !== 'ident' && t.kind !== 'escaped') || (t.kind === 'ident' && CLAUSE_WORDS.has(t.text.toUpperCase()))) p.fail('a property name');
  return p.path();
}

function groupPath(p: Parser): PathRef {
  return plainPath(p);
}

function collection(p: Parser): Collection {
  const t = p.peek;
  if (t.kind !== 'ident' || t.text.toLowerCase() !== 'devices') p.fail('devices, devices.modules or devices.jobs');
  p.next();
  if (!p.isPunct('.')) return 'devices';
  p.next();
  const sub = p.peek;
  const name = sub.kind === 'ident' ? sub.text.toLowerCase() : '';
  if (name !== 'modules' && name !== 'jobs') p.fail('modules or jobs after devices.');
  p.next();
  return name === 'modules' ? 'devices.modules' : 'devices.jobs';
}

const samePath = (a: PathRef, b: PathRef) =>
  a.root.toLowerCase() === b.root.toLowerCase() && a.segments.length === b.segments.length && a.segments.every((s, i) => s === b.segments[i]);

export const pathText = (p: PathRef) => [p.root, ...p.segments.map((s) => (typeof s === 'number' ? `[${s}]` : s))].join('.').replace(/\.\[/g, '[');
