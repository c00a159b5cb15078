import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { azureMetricName, HubMetrics } from './hub-metrics.js';

describe('Azure Monitor metric names', () => {
  it('map dotted names to Prometheus names, counters with _total', () => {
    expect(azureMetricName('d2c.telemetry.ingress.success', 'counter')).toBe('iothub_d2c_telemetry_ingress_success_total');
    expect(azureMetricName('connectedDeviceCount', 'gauge')).toBe('iothub_connectedDeviceCount');
  });

  it('count per hub and expose them', async () => {
    const registry = new Registry();
    const m = new HubMetrics(registry);
    m.count('c2d.methods.success', 'h1');
    m.count('c2d.methods.success', 'h1', 2);
    m.count('c2d.methods.success', 'h2');
    m.add('connectedDeviceCount', 'h1', 1);
    m.add('connectedDeviceCount', 'h1', 1);
    m.add('connectedDeviceCount', 'h1', -1);
    const text = await registry.metrics();
    expect(text).toContain('iothub_c2d_methods_success_total{hub="h1"} 3');
    expect(text).toContain('iothub_c2d_methods_success_total{hub="h2"} 1');
    expect(text).toContain('iothub_connectedDeviceCount{hub="h1"} 1');
  });
});
