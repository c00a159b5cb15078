import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AZURE_COUNTERS, AZURE_GAUGES, azureMetricName } from '@openiothub/runtime';

// The Grafana dashboard (deploy/grafana) queries only metrics the services export: the Azure
// Monitor names are the runtime's typed catalog (a name outside it does not compile), the rest
// are the gateway's own and Node's process metrics.

const dashboard = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../deploy/grafana/openiothub-dashboard.json'), 'utf8')) as {
  uid: string;
  panels: Array<{ id: number; title: string; targets: Array<{ expr: string }> }>;
  templating: { list: Array<{ name: string; query: unknown }> };
};

const exported = new Set<string>([
  ...AZURE_COUNTERS.map((c) => azureMetricName(c, 'counter')),
  ...AZURE_GAUGES.map((g) => azureMetricName(g, 'gauge')),
  'openiothub_gateway_connections',
  'openiothub_gateway_rejected_connects_total',
  'process_cpu_seconds_total',
  'process_resident_memory_bytes',
]);

describe('the Grafana dashboard', () => {
  it('queries only exported metrics, with unique panel ids, filtered by the hub variable', () => {
    const exprs = [...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...dashboard.templating.list.map((v) => String(v.query))];
    const names = new Set(exprs.flatMap((e) => [...e.matchAll(/\b((?:iothub|openiothub|process)_[A-Za-z0-9_]+)\b/g)].map((m) => m[1]!)));
    expect(names.size).toBeGreaterThan(15);
    expect([...names].filter((n) => !exported.has(n))).toEqual([]);
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
    for (const e of exprs.filter((x) => /(^|[^n])iothub_/.test(x) && !x.startsWith('label_values'))) expect(e).toContain('hub=~"$hub"');
  });
});
