import { describe, expect, it } from 'vitest';
import { ArgumentInvalidError } from '@openiothub/errors';
import { applyImport, applyReplace, applyReported, applyUpdate, deviceView, etagMatches, newTwin, twinEtag } from './twin.js';

const AT = '2026-01-01T00:00:00.000Z';

describe('twin versions and etag', () => {
  it('starts at AAAAAAAAAAE= with $version 1 everywhere', () => {
    const t = newTwin(AT);
    expect(twinEtag(t.etagVersion)).toBe('AAAAAAAAAAE=');
    expect(deviceView(t)).toEqual({ desired: { $version: 1 }, reported: { $version: 1 } });
  });

  it('reported updates bump version and reported $version but not the etag (scenario 14/16)', () => {
    const t = newTwin(AT);
    for (let i = 0; i < 4; i++) applyReported(t, { devicelaststarted: `t${i}` }, AT);
    expect(t.reportedVersion).toBe(5);
    expect(t.version).toBe(5);
    expect(twinEtag(t.etagVersion)).toBe('AAAAAAAAAAE=');
    expect(etagMatches('"AAAAAAAAAAE="', t.etagVersion)).toBe(true);
  });

  it('desired updates bump the etag and desired $version, and push only the change', () => {
    const t = newTwin(AT);
    const c = applyUpdate(t, { properties: { desired: { mydesiredproperty: 'propertyvalue' } } }, AT);
    expect(c.desired).toEqual({ mydesiredproperty: 'propertyvalue' });
    expect(t.desiredVersion).toBe(2);
    expect(etagMatches('"AAAAAAAAAAE="', t.etagVersion)).toBe(false);
    expect(etagMatches('*', t.etagVersion)).toBe(true);
  });

  it('desired: null deletes everything and tells the device each key is gone', () => {
    const t = newTwin(AT);
    applyUpdate(t, { properties: { desired: { a: 1, b: { c: 2 } } } }, AT);
    const c = applyUpdate(t, { properties: { desired: null } }, AT);
    expect(c.desired).toEqual({ a: null, b: null });
    expect(t.desired).toEqual({});
  });

  it('replace swaps tags and desired, pushing the difference', () => {
    const t = newTwin(AT);
    applyUpdate(t, { tags: { loc: 'a' }, properties: { desired: { x: 1, y: 2 } } }, AT);
    const c = applyReplace(t, { tags: { owner: 'me' }, properties: { desired: { y: 3, $version: 99 } } }, AT);
    expect(t.tags).toEqual({ owner: 'me' });
    expect(t.desired).toEqual({ y: 3 });
    expect(c.desired).toEqual({ x: null, y: 3 });
  });

  it('refuses service writes to reported, empty patches and bad values', () => {
    const t = newTwin(AT);
    expect(() => applyUpdate(t, { properties: { reported: { a: 1 } } }, AT)).toThrow(ArgumentInvalidError);
    expect(() => applyUpdate(t, {}, AT)).toThrow(ArgumentInvalidError);
    expect(() => applyUpdate(t, { tags: { a: [1] } }, AT)).toThrow(ArgumentInvalidError);
    expect(() => applyReported(t, 'nope', AT)).toThrow(ArgumentInvalidError);
    expect(t.version).toBe(1); // nothing applied
  });
});

describe('import (bulk import, DPS assignment)', () => {
  it('sets tags, desired and the model id in one write, without touching an absent reported section', () => {
    const s = newTwin('2026-01-01T00:00:00.000Z');
    s.reported = { fw: '1.0' };
    const change = applyImport(s, { tags: { site: 'a' }, properties: { desired: { fan: 2 } }, modelId: 'dtmi:com:example:Thermostat;1' }, '2026-01-01T00:00:01.000Z');
    expect(s.modelId).toBe('dtmi:com:example:Thermostat;1');
    expect(s.tags).toEqual({ site: 'a' });
    expect(s.desired).toEqual({ fan: 2 });
    expect(s.reported).toEqual({ fw: '1.0' });
    expect(change.desired).toEqual({ fan: 2 });
  });
});
