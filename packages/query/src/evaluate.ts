/**
 * The in-memory evaluator routing uses (devguide §5): an expression is compiled once into a
 * closure and run against each message. Three-valued logic: anything that is not Boolean `true`
 * does not route, and `undefined` (a missing property, a type mismatch, a body that is not JSON)
 * propagates instead of throwing, so a condition never fails at run time.
 */
import type { Expr, PathRef } from './ast.js';

export type Value = string | number | boolean | null | undefined | readonly Value[] | { readonly [k: string]: Value };

/** The message a routing condition sees (devguide §5.2). */
export interface RoutingMessage {
  /** System properties by query name without `$` (`contentType`, `connectionDeviceId`, `enqueuedTime`, …). */
  readonly systemProperties: Readonly<Record<string, string | undefined>>;
  /** Application properties as sent; names match case-insensitively. */
  readonly appProperties: Readonly<Record<string, string>>;
  readonly body?: Uint8Array;
  /** The sending device's twin (`tags`, `properties.desired|reported`), when the condition needs it. */
  readonly twin?: unknown;
}

/** What a compiled condition needs before it can run: the routing service loads twins only for these. */
export interface References {
  readonly body: boolean;
  readonly twin: boolean;
}

/** System properties a `$name` reference reads (lower-cased); any other `$name` is an application property. */
export const SYSTEM_PROPERTY_NAMES = ['contentType', 'contentEncoding', 'connectionDeviceId', 'connectionModuleId', 'connectionAuthMethod', 'connectionDeviceGenerationId', 'enqueuedTime', 'messageId', 'correlationId', 'userId', 'to', 'iothub-message-source', 'dt-dataschema', 'dt-subject'] as const;
const SYSTEM = new Map(SYSTEM_PROPERTY_NAMES.map((n) => [n.toLowerCase(), n]));

/** One message prepared for evaluation: shared by every condition evaluated on it, so the body is parsed once. */
export interface Scope {
  readonly message: RoutingMessage;
  readonly appLower: Map<string, string>;
  body: Value | typeof NOT_LOADED;
}

const NOT_LOADED = Symbol('not loaded');
type Fn = (scope: Scope) => Value;

export interface CompiledCondition {
  /** True only when the condition evaluates to Boolean `true`. */
  matches(message: RoutingMessage): boolean;
  /** The raw value (`undefined` and `null` are what the diagnostic log reports as "evaluated to undefined"). */
  evaluate(message: RoutingMessage): Value;
  /** The same, on a message prepared once with {@link createScope} for several conditions. */
  evaluateIn(scope: Scope): Value;
  readonly references: References;
}

/** Compiles a parsed routing condition. */
export function compileCondition(expr: Expr): CompiledCondition {
  const fn = compile(expr);
  const evaluate = (message: RoutingMessage): Value => fn(createScope(message));
  return { evaluate, evaluateIn: fn, matches: (m) => evaluate(m) === true, references: references(expr) };
}

/** Prepares a message for evaluation by any number of conditions. */
export function createScope(message: RoutingMessage): Scope {
  const appLower = new Map<string, string>();
  for (const [k, v] of Object.entries(message.appProperties)) {
    const key = k.toLowerCase();
    // duplicate names differing only by case: the first one wins (the hub keeps only one)
    if (!appLower.has(key)) appLower.set(key, v);
  }
  return { message, appLower, body: NOT_LOADED };
}

export function references(expr: Expr): References {
  let body = false;
  let twin = false;
  const walk = (e: Expr): void => {
    switch (e.kind) {
      case 'path': {
        const root = e.root.toLowerCase();
        if (root === '$body') body = true;
        if (root === '$twin') twin = true;
        return;
      }
      case 'unary':
        return walk(e.operand);
      case 'binary':
        walk(e.left);
        return walk(e.right);
      case 'call':
        return e.args.forEach(walk);
      case 'array':
        return e.items.forEach(walk);
      default:
        return;
    }
  };
  walk(expr);
  return { body, twin };
}

function compile(e: Expr): Fn {
  switch (e.kind) {
    case 'literal': {
      const v = e.value;
      return () => v;
    }
    case 'path':
      return compilePath(e);
    case 'array': {
      const items = e.items.map(compile);
      return (s) => items.map((f) => f(s));
    }
    case 'unary': {
      const operand = compile(e.operand);
      if (e.op === 'NOT') {
        return (s) => {
          const v = operand(s);
          return typeof v === 'boolean' ? !v : undefined;
        };
      }
      return (s) => {
        const v = operand(s);
        return typeof v === 'number' ? -v : undefined;
      };
    }
    case 'binary':
      return compileBinary(e.op, compile(e.left), compile(e.right));
    case 'call': {
      const args = e.args.map(compile);
      const impl = CALLS[e.name]!;
      return (s) => impl(args.map((f) => f(s)));
    }
  }
}

function compileBinary(op: string, left: Fn, right: Fn): Fn {
  switch (op) {
    case 'AND':
      return (s) => {
        const l = left(s);
        if (l === false) return false;
        const r = right(s);
        if (r === false) return false;
        return l === true && r === true ? true : undefined;
      };
    case 'OR':
      return (s) => {
        const l = left(s);
        if (l === true) return true;
        const r = right(s);
        if (r === true) return true;
        return l === false && r === false ? false : undefined;
      };
    case 'IN':
    case 'NIN':
      return (s) => {
        const l = left(s);
        const r = right(s);
        if (!isScalar(l) || !Array.isArray(r)) return undefined;
        const found = r.some((item: Value) => equals(l, item) === true);
        return op === 'IN' ? found : !found;
      };
    case '=':
      return (s) => equals(left(s), right(s));
    case '!=':
      return (s) => {
        const eq = equals(left(s), right(s));
        return eq === undefined ? undefined : !eq;
      };
    case '<':
    case '>':
    case '<=':
    case '>=':
      return (s) => {
        const l = left(s);
        const r = right(s);
        if (!((typeof l === 'number' && typeof r === 'number') || (typeof l === 'string' && typeof r === 'string'))) return undefined;
        return op === '<' ? l < r : op === '>' ? l > r : op === '<=' ? l <= r : l >= r;
      };
    default:
      return (s) => {
        const l = left(s);
        const r = right(s);
        if (typeof l !== 'number' || typeof r !== 'number') return undefined;
        const v = op === '+' ? l + r : op === '-' ? l - r : op === '*' ? l * r : op === '/' ? l / r : l % r;
        return Number.isFinite(v) ? v : undefined;
      };
  }
}

const isScalar = (v: Value): v is string | number | boolean | null => v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** Equality of scalars of one type; `undefined` when either side is missing or the types differ. */
function equals(l: Value, r: Value): boolean | undefined {
  if (l === undefined || r === undefined || !isScalar(l) || !isScalar(r)) return undefined;
  if (l === null || r === null) return l === r;
  if (typeof l !== typeof r) return undefined;
  return l === r;
}

function descend(value: unknown, segments: readonly (string | number)[]): Value {
  let v: unknown = value;
  for (const seg of segments) {
    if (v === null || typeof v !== 'object') return undefined;
    if (typeof seg === 'number') {
      if (!Array.isArray(v)) return undefined;
      v = v[seg];
    } else {
      if (Array.isArray(v) || !Object.prototype.hasOwnProperty.call(v, seg)) return undefined;
      v = (v as Record<string, unknown>)[seg];
    }
  }
  return v as Value;
}

function compilePath(p: PathRef): Fn {
  const root = p.root.toLowerCase();
  const segs = p.segments;
  if (root === '$body') return (s) => descend(bodyOf(s), segs);
  if (root === '$twin') return (s) => descend(s.message.twin, segs);
  if (root.startsWith('$')) {
    const system = SYSTEM.get(root.slice(1));
    if (system) {
      // a $name the hub does not set on this message falls back to an application property of that name
      return (s) => (segs.length > 0 ? undefined : (s.message.systemProperties[system] ?? s.appLower.get(root)));
    }
  }
  return (s) => (segs.length > 0 ? undefined : s.appLower.get(root));
}

/** The JSON body, when content type and encoding allow body queries (devguide §5.5); else undefined. */
function bodyOf(s: Scope): Value {
  if (s.body !== NOT_LOADED) return s.body;
  s.body = decodeJsonBody(s.message) as Value;
  return s.body;
}

/** Decodes a body whose `contentType` is JSON and `contentEncoding` UTF-8/16/32; undefined otherwise. */
export function decodeJsonBody(message: Pick<RoutingMessage, 'systemProperties' | 'body'>): unknown {
  const { body } = message;
  const type = message.systemProperties.contentType?.split(';')[0]?.trim().toLowerCase();
  const encoding = message.systemProperties.contentEncoding?.trim().toLowerCase().replace(/^utf(\d)/, 'utf-$1');
  if (!body || type !== 'application/json') return undefined;
  const text = decodeText(body, encoding);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch {
    return undefined;
  }
}

function decodeText(bytes: Uint8Array, encoding: string | undefined): string | undefined {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (encoding) {
    case 'utf-8':
      return buf.toString('utf8');
    case 'utf-16':
    case 'utf-16le':
      // .NET's Encoding.Unicode is little-endian; a byte-order mark says otherwise
      if (buf[0] === 0xfe && buf[1] === 0xff) return Buffer.from(buf.subarray(2)).swap16().toString('utf16le');
      return buf.length % 2 === 0 ? buf.toString('utf16le') : undefined;
    case 'utf-16be':
      return buf.length % 2 === 0 ? Buffer.from(buf).swap16().toString('utf16le') : undefined;
    case 'utf-32':
    case 'utf-32le':
    case 'utf-32be': {
      if (buf.length % 4 !== 0) return undefined;
      const big = encoding === 'utf-32be' || (buf[0] === 0 && buf[1] === 0 && buf[2] === 0xfe && buf[3] === 0xff);
      const points: number[] = [];
      for (let i = 0; i < buf.length; i += 4) {
        const cp = big ? buf.readUInt32BE(i) : buf.readUInt32LE(i);
        if (cp > 0x10ffff) return undefined;
        points.push(cp);
      }
      return String.fromCodePoint(...points);
    }
    default:
      return undefined;
  }
}

const num = (v: Value): v is number => typeof v === 'number';
const str = (v: Value): v is string => typeof v === 'string';
const finite = (v: number): number | undefined => (Number.isFinite(v) ? v : undefined);
const math = (f: (x: number) => number) => (a: Value[]) => (num(a[0]) ? finite(f(a[0])) : undefined);

const CALLS: Readonly<Record<string, (args: Value[]) => Value>> = {
  ABS: math(Math.abs),
  EXP: math(Math.exp),
  POWER: (a) => (num(a[0]) && num(a[1]) ? finite(a[0] ** a[1]) : undefined),
  SQUARE: math((x) => x * x),
  CEILING: math(Math.ceil),
  FLOOR: math(Math.floor),
  SIGN: math((x) => Math.sign(x) || 0),
  SQRT: math(Math.sqrt),
  AS_NUMBER: ([v]) => {
    if (num(v)) return v;
    if (!str(v) || v.trim() === '') return undefined;
    const n = Number(v);
    return Number.isFinite(n) ? n : undefined;
  },
  IS_ARRAY: ([v]) => Array.isArray(v),
  IS_BOOL: ([v]) => typeof v === 'boolean',
  IS_DEFINED: ([v]) => v !== undefined,
  IS_NULL: ([v]) => v === null,
  IS_NUMBER: ([v]) => num(v),
  IS_OBJECT: ([v]) => v !== null && typeof v === 'object' && !Array.isArray(v),
  IS_PRIMITIVE: ([v]) => v !== undefined && isScalar(v),
  IS_STRING: ([v]) => str(v),
  CONCAT: (a) => (a.every(str) ? a.join('') : undefined),
  LENGTH: ([v]) => (str(v) ? [...v].length : undefined),
  LOWER: ([v]) => (str(v) ? v.toLowerCase() : undefined),
  UPPER: ([v]) => (str(v) ? v.toUpperCase() : undefined),
  SUBSTRING: ([v, start, length]) => {
    if (!str(v) || !num(start) || !Number.isInteger(start) || start < 0) return undefined;
    if (length === undefined) return v.slice(start);
    if (!num(length) || !Number.isInteger(length) || length < 0) return undefined;
    return v.slice(start, start + length);
  },
  INDEX_OF: ([v, f]) => (str(v) && str(f) ? v.indexOf(f) : undefined),
  STARTS_WITH: ([v, f]) => (str(v) && str(f) ? v.startsWith(f) : undefined),
  ENDS_WITH: ([v, f]) => (str(v) && str(f) ? v.endsWith(f) : undefined),
  CONTAINS: ([v, f]) => (str(v) && str(f) ? v.includes(f) : undefined),
};

/**
 * The same expression with every property read from `$twin` (its root becoming the first
 * segment), so a twin query condition runs on a twin document in memory with the routing
 * evaluator. `rootName` may canonicalise root names (twin queries match them case-insensitively).
 */
export function readFromTwin(e: Expr, rootName: (root: string) => string = (r) => r): Expr {
  const walk = (x: Expr): Expr => {
    switch (x.kind) {
      case 'path':
        return { ...x, root: '$twin', segments: [rootName(x.root), ...x.segments] };
      case 'unary':
        return { ...x, operand: walk(x.operand) };
      case 'binary':
        return { ...x, left: walk(x.left), right: walk(x.right) };
      case 'call':
        return { ...x, args: x.args.map(walk) };
      case 'array':
        return { ...x, items: x.items.map(walk) };
      default:
        return x;
    }
  };
  return walk(e);
}
