import { describe, expect, it } from 'vitest';
import { mergePatch, metadataFor, replacementPatch, type Metadata } from './merge.js';
import type { JsonObject } from './limits.js';

const T1 = '2026-01-01T00:00:00.000Z';
const T2 = '2026-01-02T00:00:00.000Z';

describe('mergePatch', () => {
  it('merges, deletes with null, and keeps $lastUpdated at every level (with version for desired)', () => {
    const doc: JsonObject = {};
    const meta: Metadata = { $lastUpdated: T1, $lastUpdatedVersion: 1 };
    mergePatch(doc, meta, { telemetryConfig: { sendFrequency: '5m' }, fan: true }, T1, 2);
    expect(doc).toEqual({ telemetryConfig: { sendFrequency: '5m' }, fan: true });
    expect(meta).toEqual({
      $lastUpdated: T1,
      $lastUpdatedVersion: 2,
      telemetryConfig: { $lastUpdated: T1, $lastUpdatedVersion: 2, sendFrequency: { $lastUpdated: T1, $lastUpdatedVersion: 2 } },
      fan: { $lastUpdated: T1, $lastUpdatedVersion: 2 },
    });
    mergePatch(doc, meta, { telemetryConfig: { status: 'ok' }, fan: null }, T2, 3);
    expect(doc).toEqual({ telemetryConfig: { sendFrequency: '5m', status: 'ok' } });
    expect(meta.fan).toBeUndefined();
    expect((meta.telemetryConfig as Metadata).$lastUpdated).toBe(T2);
    expect(((meta.telemetryConfig as Metadata).sendFrequency as Metadata).$lastUpdated).toBe(T1);
    expect(meta.$lastUpdatedVersion).toBe(3);
  });

  it('replaces scalars with objects (dropping nulls inside) and ignores read-only members', () => {
    const doc: JsonObject = { a: 1 };
    const meta: Metadata = { $lastUpdated: T1, a: { $lastUpdated: T1 } };
    mergePatch(doc, meta, { a: { b: 2, c: null }, $version: 99, $metadata: {} }, T2);
    expect(doc).toEqual({ a: { b: 2 } });
    expect(meta.a).toEqual({ $lastUpdated: T2, b: { $lastUpdated: T2 } });
  });

  it('the seven desired patches of scenario 14 leave the expected document', () => {
    const doc: JsonObject = {};
    const meta = metadataFor({}, T1, 1) as Metadata;
    const patches: JsonObject[] = [
      { patchId: 'Init', fanOn: 'false', components: { system: { id: '17', units: 'farenheit', firmwareVersion: '9.75' }, climate: { minTemperature: '68', maxTemperature: '76' } } },
      { patchId: 'Switch fan on', fanOn: 'false' },
      { patchId: 'Set maximum temperature', components: { climate: { maxTemperature: '92' } } },
      { patchId: 'Add WiFi component', components: { wifi: { channel: '6', ssid: 'my_network' } } },
      { patchId: 'Update WiFi component', components: { wifi: { channel: '13', ssid: 'my_other_network' } } },
      { patchId: 'Delete WiFi component', components: { wifi: null } },
    ];
    patches.forEach((p, i) => mergePatch(doc, meta, p, T2, i + 2));
    expect(doc).toEqual({
      patchId: 'Delete WiFi component',
      fanOn: 'false',
      components: { system: { id: '17', units: 'farenheit', firmwareVersion: '9.75' }, climate: { minTemperature: '68', maxTemperature: '92' } },
    });
  });
});

describe('replacementPatch', () => {
  it('nulls removed members and carries changed ones', () => {
    expect(replacementPatch({ a: 1, b: { c: 2 }, d: 3 }, { a: 1, b: { c: 3 }, e: 4 })).toEqual({ b: { c: 3 }, d: null, e: 4 });
  });
});
