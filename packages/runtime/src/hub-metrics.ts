import { Counter, Gauge, type Registry } from 'prom-client';

/** The Azure counter metrics the services export (a name outside this list does not type-check). */
export const AZURE_COUNTERS = [
  'd2c.telemetry.ingress.allProtocol',
  'd2c.telemetry.ingress.success',
  'd2c.telemetry.ingress.sendThrottle',
  'd2c.telemetry.egress.success',
  'd2c.telemetry.egress.orphaned',
  'd2c.telemetry.egress.fallback',
  'd2c.endpoints.egress.builtIn.events',
  'd2c.endpoints.egress.storage',
  'd2c.endpoints.egress.serviceBusQueues',
  'c2d.commands.egress.complete.success',
  'c2d.commands.egress.abandon.success',
  'c2d.commands.egress.reject.success',
  'd2c.twin.read.success',
  'd2c.twin.read.failure',
  'd2c.twin.update.success',
  'd2c.twin.update.failure',
  'c2d.twin.read.success',
  'c2d.twin.read.failure',
  'c2d.twin.update.success',
  'c2d.twin.update.failure',
  'c2d.methods.success',
  'c2d.methods.failure',
  'twinQueries.success',
  'twinQueries.failure',
  'jobs.completed',
  'jobs.failed',
] as const;
export type AzureCounter = (typeof AZURE_COUNTERS)[number];

/** The Azure gauge metrics the services export. */
export const AZURE_GAUGES = ['connectedDeviceCount', 'dailyMessageQuotaUsed'] as const;
export type AzureGauge = (typeof AZURE_GAUGES)[number];

/**
 * Prometheus metrics named after Azure Monitor's IoT Hub metrics (protocols-ops §7.1), so
 * dashboards and alerts carry over: `d2c.telemetry.ingress.success` is
 * `iothub_d2c_telemetry_ingress_success_total{hub}`. Azure's metrics have no dimensions; here
 * every one is labelled by hub, and per-process values add up across pods (sum by hub).
 */
export function azureMetricName(azureName: AzureCounter | AzureGauge, kind: 'counter' | 'gauge'): string {
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
  count(azureName: AzureCounter, hub: string, n = 1): void {
    let c = this.#counters.get(azureName);
    if (!c) {
      c = new Counter({ name: azureMetricName(azureName, 'counter'), help: `Azure IoT Hub metric ${azureName}`, labelNames: ['hub'], registers: [this.#registry] });
      this.#counters.set(azureName, c);
    }
    c.inc({ hub }, n);
  }

  /** Move an Azure gauge metric (e.g. `connectedDeviceCount`) of a hub by `delta`. */
  add(azureName: AzureGauge, hub: string, delta: number): void {
    this.#gauge(azureName).inc({ hub }, delta);
  }

  /** Set an Azure gauge metric of a hub (e.g. `dailyMessageQuotaUsed`, as read from its shared count). */
  set(azureName: AzureGauge, hub: string, value: number): void {
    this.#gauge(azureName).set({ hub }, value);
  }

  #gauge(azureName: AzureGauge): Gauge<'hub'> {
    let g = this.#gauges.get(azureName);
    if (!g) {
      g = new Gauge({ name: azureMetricName(azureName, 'gauge'), help: `Azure IoT Hub metric ${azureName}`, labelNames: ['hub'], registers: [this.#registry] });
      this.#gauges.set(azureName, g);
    }
    return g;
  }
}
