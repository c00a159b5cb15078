import { describe, expect, it } from 'vitest';
import type { D2CMessage } from '@openiothub/bus';
import { validateRouting } from '../domain/routing-config.js';
import { enrichmentValue, RoutingTable } from './routing-table.js';

const msg = (app: Record<string, string>, json?: unknown): D2CMessage => ({
  body: Buffer.from(JSON.stringify(json ?? {})),
  systemProperties: { 'content-type': 'application/json', 'content-encoding': 'utf-8', 'iothub-connection-device-id': 'dev1' },
  applicationProperties: app,
});

const table = (doc: unknown) => new RoutingTable('hub1', validateRouting(doc, undefined));
const targets = (t: RoutingTable, m: D2CMessage, source: Parameters<RoutingTable['decide']>[0] = 'DeviceMessages') => t.decide(source, m).destinations.map((d) => d.endpoint);

describe('RoutingTable.decide', () => {
  const endpoints = { natsSubjects: [{ name: 'A' }, { name: 'B' }] };

  it('sends everything to events with no routes (the fallback), and drops it when the fallback is off', () => {
    expect(targets(table({}), msg({}))).toEqual(['events']);
    const off = table({ fallbackRoute: { isEnabled: false } });
    expect(off.decide('DeviceMessages', msg({}))).toMatchObject({ destinations: [], dropped: true });
  });

  it('delivers to each matched endpoint once, resolving endpoint names case-insensitively; the fallback only when nothing matched', () => {
    const t = table({
      endpoints,
      routes: [
        { name: 'r1', condition: "x = '1'", endpointNames: ['a'] },
        { name: 'r2', condition: "y = '1'", endpointNames: ['A'] },
        { name: 'r3', condition: "y = '1'", endpointNames: ['B'] },
        { name: 'off', condition: 'true', endpointNames: ['events'], isEnabled: false },
      ],
    });
    expect(targets(t, msg({ x: '1', y: '1' }))).toEqual(['A', 'B']);
    expect(targets(t, msg({ x: '1' }))).toEqual(['A']);
    expect(targets(t, msg({ z: '1' }))).toEqual(['events']);
  });

  it('evaluates only the routes of the message source; events have no fallback', () => {
    const t = table({ endpoints, routes: [{ name: 'twin', source: 'twinchangeevents', condition: 'true', endpointNames: ['A'] }] });
    expect(targets(t, msg({}), 'TwinChangeEvents')).toEqual(['A']);
    expect(targets(t, msg({}), 'DeviceLifecycleEvents')).toEqual([]);
    expect(targets(t, msg({}))).toEqual(['events']);
  });

  it('reports routes whose condition is undefined (diagnostic log) and does not route on them', () => {
    const t = table({ endpoints, routes: [{ name: 'u', condition: 'missing = 1', endpointNames: ['A'] }] });
    expect(t.decide('DeviceMessages', msg({}))).toMatchObject({ undefinedRoutes: ['u'], destinations: [{ endpoint: 'events' }] });
  });

  it('adds enrichments only on the endpoints they name; twin paths that do not exist keep the literal text', () => {
    const t = table({ endpoints, routes: [{ name: 'r', condition: 'true', endpointNames: ['A'] }, { name: 'r2', condition: 'true', endpointNames: ['B'] }], enrichments: [{ key: 'site', value: '$twin.tags.site', endpointNames: ['a'] }] });
    expect(t.needsTwin('DeviceMessages')).toBe(true);
    const d = t.decide('DeviceMessages', msg({ n: '1' }), { tags: { site: 'north' } }).destinations;
    expect(d.find((x) => x.endpoint === 'A')!.message.applicationProperties).toEqual({ n: '1', site: 'north' });
    expect(d.find((x) => x.endpoint === 'B')!.message.applicationProperties).toEqual({ n: '1' });
    expect(enrichmentValue('$twin.tags.nope', 'h', { tags: {} })).toBe('$twin.tags.nope');
    expect(enrichmentValue('$twin.tags', 'h', { tags: { a: 1 } })).toBe('{"a":1}');
    expect(enrichmentValue('$IoTHubName', 'h', undefined)).toBe('h');
  });
});
