import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../domain/limits.js';
import { newTwin, type TwinState } from '../domain/twin.js';
import { parseConfiguration, type StoredConfiguration } from './configuration.js';
import { activate, planTwin } from './plan.js';

let clock = 0;
function config(id: string, priority: number, targetCondition: string, deviceContent: Record<string, unknown>): StoredConfiguration {
  return { ...parseConfiguration(id, { priority, targetCondition, content: { deviceContent } }), etagVersion: 1, createdTime: new Date(++clock * 1000), updatedTime: new Date() };
}
function twin(tags: JsonObject, desired: JsonObject = {}, extra: Partial<TwinState> = {}): TwinState {
  return { ...newTwin('2026-01-01T00:00:00Z'), tags, desired, ...extra };
}
const doc = (s: TwinState): JsonObject => ({ deviceId: 'd1', status: 'enabled', tags: s.tags, properties: { desired: s.desired, reported: s.reported }, configurations: s.configurations });
const plan = (s: TwinState, configs: StoredConfiguration[]) => planTwin(s, doc(s), activate(configs));

describe('configuration plans for one twin (checklist 165–178)', () => {
  it('applies the content of a matching configuration and records it as Applied', () => {
    const p = plan(twin({ environment: 'test' }), [config('chiller', 10, "tags.environment='test'", { 'properties.desired.chillerWaterSettings': { temperature: 38, pressure: 78 } })]);
    expect(p).toEqual({
      desiredPatch: { chillerWaterSettings: { temperature: 38, pressure: 78 } },
      configurations: { chiller: { status: 'Applied' } },
      configPaths: { 'properties.desired.chillerWaterSettings': 'chiller' },
    });
    expect(plan(twin({ environment: 'prod' }), [config('chiller', 10, "tags.environment='test'", { 'properties.desired.x': 1 })])).toBeUndefined();
  });

  it('lets the highest priority win a path, the newest on a tie; the loser is Targeted', () => {
    const low = config('low', 10, '*', { 'properties.desired.fw': { version: '1.0' } });
    const high = config('high', 20, '*', { 'properties.desired.fw': { version: '2.0' } });
    expect(plan(twin({}), [low, high])).toMatchObject({ desiredPatch: { fw: { version: '2.0' } }, configurations: { high: { status: 'Applied' }, low: { status: 'Targeted' } } });
    const older = config('older', 10, '*', { 'properties.desired.fw': 'a' });
    const newer = config('newer', 10, '*', { 'properties.desired.fw': 'b' });
    expect(plan(twin({}), [newer, older])).toMatchObject({ desiredPatch: { fw: 'b' }, configurations: { newer: { status: 'Applied' }, older: { status: 'Targeted' } } });
  });

  it('counts partial application as Applied and layers a leaf path over a section', () => {
    const section = config('section', 10, '*', { 'properties.desired.chiller': { temperature: 38, pressure: 78 }, 'properties.desired.mode': 'eco' });
    const leaf = config('leaf', 20, '*', { 'properties.desired.chiller.temperature': 66, 'properties.desired.mode': 'boost' });
    expect(plan(twin({}), [section, leaf])).toMatchObject({
      desiredPatch: { chiller: { temperature: 66, pressure: 78 }, mode: 'boost' },
      configurations: { section: { status: 'Applied' }, leaf: { status: 'Applied' } },
    });
  });

  it('removes a property with null content, and does nothing when the twin already holds the content', () => {
    const remove = config('remove', 10, '*', { 'properties.desired.legacy': null });
    expect(plan(twin({}, { legacy: 1, keep: 2 }), [remove])?.desiredPatch).toEqual({ legacy: null });
    const set = config('set', 10, '*', { 'properties.desired.a': { b: 1 } });
    const settled = twin({}, { a: { b: 1, other: true } }, { configurations: { set: { status: 'Applied' } }, configPaths: { 'properties.desired.a': 'set' } });
    expect(plan(settled, [set])).toBeUndefined();
  });

  it("removes a configuration's settings when the twin leaves it, and falls back to the next one", () => {
    const high = config('high', 20, "tags.state = 'WA'", { 'properties.desired.chiller': { t: 38 } });
    const low = config('low', 10, '*', { 'properties.desired.chiller': { t: 50 } });
    const applied = twin({ state: 'OR' }, { chiller: { t: 38 } }, { configurations: { high: { status: 'Applied' }, low: { status: 'Targeted' } }, configPaths: { 'properties.desired.chiller': 'high' } });
    expect(plan(applied, [high, low])).toEqual({ desiredPatch: { chiller: { t: 50 } }, configurations: { low: { status: 'Applied' } }, configPaths: { 'properties.desired.chiller': 'low' } });
    const alone = twin({ state: 'OR' }, { chiller: { t: 38 }, other: 1 }, { configurations: { high: { status: 'Applied' } }, configPaths: { 'properties.desired.chiller': 'high' } });
    expect(plan(alone, [high])).toEqual({ desiredPatch: { chiller: null }, configurations: {}, configPaths: {} });
  });

  it('validates ids, priorities, metric counts and content paths', () => {
    const base = { priority: 1, targetCondition: '*', content: { deviceContent: { 'properties.desired.x': 1 } } };
    expect(() => parseConfiguration('Upper', base)).toThrow(/lowercase/);
    expect(() => parseConfiguration('a b', base)).toThrow(/lowercase/);
    expect(() => parseConfiguration('a/b', base)).toThrow(/lowercase/);
    expect(() => parseConfiguration('x'.repeat(129), base)).toThrow(/lowercase/);
    expect(() => parseConfiguration('ok', { ...base, priority: 0 })).toThrow(/positive integer/);
    const q = 'SELECT deviceId FROM devices WHERE tags.a = 1';
    expect(() => parseConfiguration('ok', { ...base, metrics: { queries: { a: q, b: q, c: q, d: q, e: q, f: q } } })).toThrow(/at most 5/);
    expect(() => parseConfiguration('ok', { ...base, content: { deviceContent: { 'tags.x': 1 } } })).toThrow(/desired property/);
    expect(() => parseConfiguration('ok', { ...base, targetCondition: "tags.x = 'a' AND" })).toThrow(/Invalid targetCondition/);
    expect(parseConfiguration('firmware285', { ...base, metrics: { queries: { current: q } } }).metricQueries).toEqual({ current: q });
  });
});

describe('a twin read back from Postgres (jsonb reorders keys)', () => {
  it('is settled when its recorded state equals the plan in another key order', () => {
    const c = config('order', 10, '*', { 'properties.desired.s': { temperature: 38, pressure: 78 }, 'properties.desired.a': 1 });
    const settled = twin({}, { s: { pressure: 78, temperature: 38 }, a: 1 }, {
      configurations: { order: { status: 'Applied' } },
      configPaths: { 'properties.desired.a': 'order', 'properties.desired.s': 'order' },
    });
    expect(plan(settled, [c])).toBeUndefined();
  });
});
