import { ArgumentInvalidError } from '@openiothub/errors';
import { parseExpression, parseSelect, QuerySyntaxError } from '@openiothub/query';
import { validateSection, type JsonObject } from '../domain/limits.js';

/** IoT Hub: 100 configurations per paid hub (devguide quota table). */
export const MAX_CONFIGURATIONS_PER_HUB = 100;
export const MAX_CUSTOM_METRICS = 5;
const DESIRED_PREFIX = 'properties.desired.';

/** What a configuration says, validated (seeds-protocols-ops §9.1). */
export interface ConfigurationSpec {
  readonly id: string;
  readonly labels: Record<string, string>;
  /** Desired-property path (`properties.desired.a.b`) → value; `null` removes the property. */
  readonly deviceContent: Record<string, unknown>;
  /** A twin WHERE condition; `*` targets every device. */
  readonly targetCondition: string;
  readonly priority: number;
  /** Custom metric name → `SELECT deviceId FROM devices WHERE …`. */
  readonly metricQueries: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
// lowercase letters, digits and punctuation, but no spaces or & ^ [ ] { } \ | " < > / (checklist 162)
const ID = /^[a-z0-9!#$%'()*+,\-.:;=?@_`~]{1,128}$/;

export function validateConfigurationId(id: string): void {
  if (!ID.test(id)) {
    throw new ArgumentInvalidError('A configuration id is 1-128 lowercase letters, digits or punctuation, without spaces or any of & ^ [ ] { } \\ | " < > /.');
  }
}

/** Validates a `PUT /configurations/{id}` body. */
export function parseConfiguration(id: string, body: unknown): ConfigurationSpec {
  validateConfigurationId(id);
  if (!isObject(body)) throw new ArgumentInvalidError('A configuration must be a JSON object.');
  if (body['id'] !== undefined && body['id'] !== id) throw new ArgumentInvalidError(`The body's id "${String(body['id'])}" differs from the id in the path "${id}".`);
  const labels = body['labels'] ?? {};
  if (!isObject(labels) || Object.values(labels).some((v) => typeof v !== 'string')) throw new ArgumentInvalidError('labels must map names to string values.');
  const priority = body['priority'] ?? 0;
  if (typeof priority !== 'number' || !Number.isInteger(priority) || priority < 1 || priority > 2 ** 31 - 1) {
    throw new ArgumentInvalidError('priority must be a positive integer (the highest number wins).');
  }
  const targetCondition = body['targetCondition'];
  if (typeof targetCondition !== 'string' || targetCondition.trim() === '') throw new ArgumentInvalidError("targetCondition is required: a twin condition such as tags.environment='test', or * for every device.");
  if (targetCondition.trim() !== '*') checked(() => parseExpression(targetCondition, { dialect: 'twin' }), 'targetCondition');
  const content = body['content'];
  if (!isObject(content)) throw new ArgumentInvalidError('content.deviceContent is required.');
  const modules = [content['modulesContent'], content['moduleContent']].find((m) => isObject(m) && Object.keys(m).length > 0);
  if (modules) throw new ArgumentInvalidError('modulesContent (IoT Edge deployments) is not supported on /configurations; use deviceContent.');
  const deviceContent = content['deviceContent'];
  if (!isObject(deviceContent) || Object.keys(deviceContent).length === 0) throw new ArgumentInvalidError('content.deviceContent must map at least one desired-property path to its value.');
  validateDeviceContent(deviceContent);
  const metrics = body['metrics'];
  const queries = isObject(metrics) ? (metrics['queries'] ?? {}) : {};
  if (!isObject(queries)) throw new ArgumentInvalidError('metrics.queries must map metric names to queries.');
  if (Object.keys(queries).length > MAX_CUSTOM_METRICS) throw new ArgumentInvalidError(`A configuration has at most ${MAX_CUSTOM_METRICS} custom metrics.`);
  const metricQueries: Record<string, string> = {};
  for (const [name, q] of Object.entries(queries)) {
    if (typeof q !== 'string') throw new ArgumentInvalidError(`Metric ${name} must be a query string.`);
    const stmt = checked(() => parseSelect(q), `metric ${name}`);
    if (stmt.from !== 'devices' || stmt.aggregated) throw new ArgumentInvalidError(`Metric ${name} must be SELECT deviceId FROM devices WHERE …`);
    metricQueries[name] = q;
  }
  return { id, labels: labels as Record<string, string>, deviceContent, targetCondition: targetCondition.trim(), priority, metricQueries };
}

/** Content paths: `properties.desired.<path>` to a value the twin rules allow (null removes). */
export function validateDeviceContent(deviceContent: Record<string, unknown>): void {
  for (const [path, value] of Object.entries(deviceContent)) {
    if (!path.startsWith(DESIRED_PREFIX) || desiredSegments(path).some((s) => s === '')) {
      throw new ArgumentInvalidError(`Content path "${path}" must name a desired property: properties.desired.<name>[.<name>…].`);
    }
    validateSection(nest(desiredSegments(path), value), 'desired', { allowNull: true });
  }
}

/** `properties.desired.a.b` → `['a', 'b']`. */
export const desiredSegments = (path: string) => path.slice(DESIRED_PREFIX.length).split('.');

/** `['a', 'b'], v` → `{a: {b: v}}`. */
export function nest(segments: readonly string[], value: unknown): JsonObject {
  let out: unknown = value;
  for (let i = segments.length - 1; i >= 0; i--) out = { [segments[i]!]: out };
  return out as JsonObject;
}

function checked<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof QuerySyntaxError) throw new ArgumentInvalidError(`Invalid ${what}: ${err.message}`, { position: err.position });
    throw err;
  }
}

/** A stored configuration. */
export interface StoredConfiguration extends ConfigurationSpec {
  readonly etagVersion: number;
  readonly createdTime: Date;
  readonly updatedTime: Date;
}

export const configurationEtag = (v: number) => Buffer.from(String(v)).toString('base64');

/** The configuration as `GET /configurations/{id}` shows it, with its metric results. */
export function configurationJson(c: StoredConfiguration, results: { system: Record<string, number>; custom: Record<string, number> }): JsonObject {
  return {
    id: c.id,
    schemaVersion: '1.0',
    labels: c.labels,
    content: { deviceContent: c.deviceContent as JsonObject, modulesContent: {}, moduleContent: {} },
    contentType: 'assignment',
    targetCondition: c.targetCondition,
    createdTimeUtc: c.createdTime.toISOString(),
    lastUpdatedTimeUtc: c.updatedTime.toISOString(),
    priority: c.priority,
    systemMetrics: { results: results.system, queries: systemMetricQueries(c) },
    metrics: { results: results.custom, queries: c.metricQueries },
    etag: configurationEtag(c.etagVersion),
  };
}

/** The queries behind targetedCount and appliedCount. */
export function systemMetricQueries(c: Pick<ConfigurationSpec, 'id' | 'targetCondition'>): { targetedCount: string; appliedCount: string } {
  return {
    targetedCount: c.targetCondition === '*' ? 'SELECT deviceId FROM devices' : `SELECT deviceId FROM devices WHERE ${c.targetCondition}`,
    appliedCount: `SELECT deviceId FROM devices WHERE configurations.[[${c.id}]].status = 'Applied'`,
  };
}
