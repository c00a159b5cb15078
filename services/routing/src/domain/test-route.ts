/**
 * The test-route API (ARM `routing/routes/$testnew` and `$testall`, devguide §4.2): evaluates
 * routes against a sample message and twin without routing anything.
 */
import type { D2CMessage } from '@openiothub/bus';
import { ArgumentInvalidError } from '@openiothub/errors';
import { compileRoutingCondition, parseExpression, QuerySyntaxError } from '@openiothub/query';
import { RoutingTable, routingView, SYSTEM_WIRE_NAMES } from '../engine/routing-table.js';
import { ROUTE_SOURCES, type RouteSource, type RoutingDoc } from './routing-config.js';

/** A sample's system property, by query name in any case (`contentType`), to its wire name. */
const WIRE: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(SYSTEM_WIRE_NAMES).map(([query, wire]) => [query.toLowerCase(), wire]));

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, what: string): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw new ArgumentInvalidError(`${what} must be an object of strings.`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'string' ? x : JSON.stringify(x);
  return out;
}

/** The sample `{message: {body, appProperties, systemProperties}, twin}` as a routed message would look. */
function sample(req: Record<string, unknown>): { msg: D2CMessage; twin: unknown } {
  const m = isObject(req['message']) ? req['message'] : {};
  const system: Record<string, string> = {};
  for (const [k, v] of Object.entries(strings(m['systemProperties'], 'message.systemProperties'))) system[WIRE[k.toLowerCase().replace(/^\$/, '')] ?? k.toLowerCase()] = v;
  const body = m['body'] === undefined || m['body'] === null ? '' : typeof m['body'] === 'string' ? m['body'] : JSON.stringify(m['body']);
  return { msg: { body: Buffer.from(body, 'utf8'), systemProperties: system, applicationProperties: strings(m['appProperties'], 'message.appProperties') }, twin: req['twin'] };
}

function parseRequest(json: string): Record<string, unknown> {
  let req: unknown;
  try {
    req = JSON.parse(json);
  } catch {
    throw new ArgumentInvalidError('The test request is not valid JSON.');
  }
  if (!isObject(req)) throw new ArgumentInvalidError('The test request must be a JSON object.');
  return req;
}

/** `$testnew`: one route, given in the request. `result` is "true", "false" or "undefined"; syntax errors are compilation errors. */
export function testRoute(json: string): unknown {
  const req = parseRequest(json);
  const route = isObject(req['route']) ? req['route'] : {};
  const condition = typeof route['condition'] === 'string' ? route['condition'] : 'true';
  try {
    parseExpression(condition.trim() === '' ? 'true' : condition, { dialect: 'routing' });
  } catch (err) {
    if (!(err instanceof QuerySyntaxError)) throw err;
    const at = { line: 0, column: err.position };
    return { result: 'undefined', details: { compilationErrors: [{ message: err.message, severity: 'error', location: { start: at, end: at } }] } };
  }
  const { msg, twin } = sample(req);
  const value = compileRoutingCondition(condition).evaluate(routingView(msg, twin));
  return { result: value === true ? 'true' : value === false ? 'false' : 'undefined', details: { compilationErrors: [] } };
}

/** `$testall`: every stored route of the source; the ones the sample matches. */
export function testAllRoutes(hub: string, doc: RoutingDoc, json: string): unknown {
  const req = parseRequest(json);
  const sourceRaw = typeof req['routingSource'] === 'string' ? req['routingSource'] : 'DeviceMessages';
  const source = ROUTE_SOURCES.find((s) => s.toLowerCase() === sourceRaw.toLowerCase()) as RouteSource | undefined;
  if (!source) throw new ArgumentInvalidError(`routingSource '${sourceRaw}' is not one of ${ROUTE_SOURCES.join(', ')}.`);
  const { msg, twin } = sample(req);
  const results = new RoutingTable(hub, doc).test(source, msg, twin);
  return { routes: results.filter((r) => r.result === true).map((r) => ({ properties: r.route })) };
}
