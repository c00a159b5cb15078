import { ArgumentInvalidError, DomainError } from '@openiothub/errors';
import type { JsonObject } from '../domain/limits.js';
import { parse, type TwinService } from '../domain/twin-service.js';
import type { TwinQueryEngine } from '../query/engine.js';
import { configurationJson, desiredSegments, nest, parseConfiguration, systemMetricQueries, validateDeviceContent, type StoredConfiguration } from './configuration.js';
import { sameJson } from './plan.js';
import type { ConfigurationReconciler } from './reconciler.js';
import type { ConfigurationStore } from './store.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Configuration use cases behind the REST API; applying them to twins is the reconciler's work. */
export class ConfigurationService {
  constructor(
    private readonly o: { store: ConfigurationStore; queries: TwinQueryEngine; reconciler: ConfigurationReconciler; twins: TwinService },
  ) {}

  async put(hub: string, id: string, json: string, ifMatch: string | undefined): Promise<JsonObject> {
    const spec = parseConfiguration(id, parse(json, 'configuration'));
    const stored = await this.o.store.put(hub, spec, ifMatch, (old) => {
      // content is not updatable: a new configuration is needed for new content
      if (!sameJson(old.deviceContent, spec.deviceContent)) {
        throw new ArgumentInvalidError('The content of a configuration cannot be changed; create a new configuration. Updatable: targetCondition, priority, labels, metrics.');
      }
      return spec;
    });
    this.o.reconciler.configurationsChanged(hub);
    return this.#withMetrics(hub, stored);
  }

  async get(hub: string, id: string): Promise<JsonObject> {
    const stored = await this.o.store.get(hub, id);
    if (!stored) throw new DomainError('NotFound', `Configuration ${id} does not exist.`);
    return this.#withMetrics(hub, stored);
  }

  async list(hub: string, top: number): Promise<JsonObject[]> {
    const all = await this.o.store.list(hub, top > 0 ? top : undefined);
    return Promise.all(all.map((c) => this.#withMetrics(hub, c)));
  }

  async delete(hub: string, id: string, ifMatch: string | undefined): Promise<void> {
    if (!(await this.o.store.delete(hub, id, ifMatch))) throw new DomainError('NotFound', `Configuration ${id} does not exist.`);
    this.o.reconciler.configurationsChanged(hub);
  }

  /**
   * `POST /devices/{id}/applyConfigurationContent`: `deviceContent` (desired paths, as in a
   * configuration) merges into the device twin; `modulesContent` (`{module: {"properties.desired": {…}}}`)
   * merges into each module twin's desired properties.
   */
  async applyContent(hub: string, deviceId: string, json: string): Promise<void> {
    const content = parse(json, 'configuration content');
    if (!isObject(content)) throw new ArgumentInvalidError('The content must be a JSON object with deviceContent and/or modulesContent.');
    const deviceContent = content['deviceContent'];
    const modulesContent = content['modulesContent'] ?? content['moduleContent'];
    if (!isObject(deviceContent) && !isObject(modulesContent)) throw new ArgumentInvalidError('The content must hold deviceContent or modulesContent.');
    const patches: Array<{ moduleId: string; desired: JsonObject }> = [];
    if (isObject(deviceContent) && Object.keys(deviceContent).length > 0) {
      validateDeviceContent(deviceContent);
      let desired: JsonObject = {};
      for (const [path, value] of Object.entries(deviceContent)) desired = deepMerge(desired, nest(desiredSegments(path), value));
      patches.push({ moduleId: '', desired });
    }
    if (isObject(modulesContent)) {
      for (const [moduleId, mod] of Object.entries(modulesContent)) {
        const desired = isObject(mod) ? mod['properties.desired'] : undefined;
        if (!isObject(desired)) throw new ArgumentInvalidError(`modulesContent.${moduleId} must be {"properties.desired": {…}}.`);
        patches.push({ moduleId, desired: desired as JsonObject });
      }
    }
    for (const p of patches) await this.o.twins.updateTwin({ hub, deviceId, moduleId: p.moduleId }, JSON.stringify({ properties: { desired: p.desired } }), '*');
  }

  /** Metric results computed from the twins now (IoT Hub refreshes them periodically; fresh is never wrong). */
  async #withMetrics(hub: string, c: StoredConfiguration): Promise<JsonObject> {
    const count = (q: string) => this.o.queries.count(hub, q);
    const system = systemMetricQueries(c);
    const [targetedCount, appliedCount] = await Promise.all([count(system.targetedCount), count(system.appliedCount)]);
    const custom: Record<string, number> = {};
    for (const [name, q] of Object.entries(c.metricQueries)) custom[name] = await count(q);
    return configurationJson(c, { system: { targetedCount, appliedCount }, custom });
  }
}

function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k] as JsonObject, v as JsonObject) : v;
  return out;
}
