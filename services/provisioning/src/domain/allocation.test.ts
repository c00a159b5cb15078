import { describe, expect, it } from 'vitest';
import { candidateHubs, hashedChoice, lowestLoadChoice, type LinkedHub } from './allocation.js';
import { enrollmentOf } from './documents.js';

const hub = (name: string, weight = 1, apply = true): LinkedHub => ({ hub: name, hostName: `${name}.example`, allocationWeight: weight, applyAllocationPolicy: apply });
const ids = (n: number) => Array.from({ length: n }, (_, i) => `device-${i}`);

describe('hashed allocation', () => {
  it('spreads registration ids evenly over equally weighted hubs and is stable per id', () => {
    const hubs = [hub('a'), hub('b'), hub('c')];
    const counts = new Map<string, number>();
    for (const id of ids(30_000)) counts.set(hashedChoice(hubs, id).hub, (counts.get(hashedChoice(hubs, id).hub) ?? 0) + 1);
    for (const n of counts.values()) expect(Math.abs(n - 10_000)).toBeLessThan(500);
    expect(hashedChoice(hubs, 'device-7')).toBe(hashedChoice([...hubs].reverse(), 'device-7'));
  });

  it('follows the weights, and a hub of weight 0 gets nothing', () => {
    const hubs = [hub('a', 3), hub('b', 1), hub('z', 0)];
    const counts = new Map<string, number>();
    for (const id of ids(20_000)) {
      const h = hashedChoice(hubs, id).hub;
      counts.set(h, (counts.get(h) ?? 0) + 1);
    }
    expect(counts.get('z')).toBeUndefined();
    expect(Math.abs(counts.get('a')! / 20_000 - 0.75)).toBeLessThan(0.02);
  });

  it('refuses when no hub can take devices', () => {
    expect(() => hashedChoice([], 'x')).toThrow(/No linked IoT hub/);
    expect(() => hashedChoice([hub('a', 0)], 'x')).toThrow(/No linked IoT hub/);
  });
});

describe('lowest load', () => {
  it('picks the hub with the fewest devices per unit of weight', () => {
    const hubs = [hub('a', 1), hub('b', 2)];
    expect(lowestLoadChoice(hubs, new Map([['a', 10], ['b', 18]])).hub).toBe('b');
    expect(lowestLoadChoice(hubs, new Map([['a', 10], ['b', 22]])).hub).toBe('a');
    expect(lowestLoadChoice(hubs, new Map()).hub).toBe('a');
  });
});

describe('candidate hubs', () => {
  const linked = [hub('a'), hub('b'), hub('manual', 1, false)];
  const enrollment = (iotHubs?: string[]) =>
    enrollmentOf('individual', 'r', { registrationId: 'r', attestation: { type: 'symmetricKey', symmetricKey: { primaryKey: 'k', secondaryKey: 'k' } }, ...(iotHubs ? { iotHubs } : {}) });

  it('are the linked hubs that apply allocation policies, unless the enrollment names its own', () => {
    expect(candidateHubs(linked, enrollment()).map((h) => h.hub)).toEqual(['a', 'b']);
    expect(candidateHubs(linked, enrollment(['manual.example', 'B'])).map((h) => h.hub)).toEqual(['manual', 'b']);
    expect(() => candidateHubs(linked, enrollment(['elsewhere.example']))).toThrow(/not linked/);
  });
});
