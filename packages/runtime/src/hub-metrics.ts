import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Prometheus metrics named after Azure Monitor's IoT Hub metrics (protocols-ops §7.1), so
 * dashboards and alerts carry over: `d2c.telemetry.ingress.success` is
 * `iothub_d2c_telemetry_ingress_success_total{hub}`. Azure's metrics have no dimensions; here
 * every one is labelled by hub, and per-process values add up across pods (sum by hub).
 */
export function azureMetricName(azureName: string, kind: 'counter' | 'gauge'): string {
  const base = `iothub_${azureName.replace(/\./g, '_')}`;
  return kind === 'counter' ? `${base}_total` : base;
}

/** Counters and gauges of Azure metric names, created on first use in `registry`. */
export class HubMetrics {
  readonly #registry: Registry;
  readonly #counters = new Map<string, Counter<'hub'>>();
  readonly #gauges = new Map<string, Gauge<'hub'>>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** Count `n` of an Azure counter metric (e.g. `c2d.methods.success`) for a hub. */
  count(azureName: string, hub: string, n = 1): void {
    let c = this.#counters.get(azureName);
    if (!c) {
      c = new Counter({ name: azureMetricName(azureName, 'counter'), help: `Azure IoT Hub metric ${azureName}`, labelNames: ['hub'], registers: [this.#registry] });
      this.#counters.set(azureName, c);
    }
    c.inc({ hub }, n);
  }

  /** Move an Azure gauge metric (e.g. `connectedDeviceCount`) of a hub by `delta`. */
  add(azureName: string, hub: string, delta: number): void {
    let g = this.#gauges.get(azureName);
    if (!g) {
      g = new Gauge({ name: azureMetricName(azureName, 'gauge'), help: `Azure IoT Hub metric ${azureName}`, labelNames: ['hub'], registers: [this.#registry] });
      this.#gauges.set(azureName, g);
    }
    g.inc({ hub }, delta);
  }
}
