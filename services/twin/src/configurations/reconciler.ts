import type { Logger } from '@openiothub/logging';
import { conditionSql, parseExpression, type SqlParams, type SqlSchema } from '@openiothub/query';
import type { TwinService } from '../domain/twin-service.js';
import { identityOf, type TwinQueryEngine } from '../query/engine.js';
import type { StoredConfiguration } from './configuration.js';
import { activate } from './plan.js';
import type { ConfigurationStore } from './store.js';

type Mode = 'mismatch' | 'full';
const BATCH = 500;
const CONCURRENCY = 16;

interface HubState {
  running: boolean;
  pending: Mode | undefined;
}

/**
 * Keeps twins in step with the hub's automatic device configurations (evaluated continuously,
 * seeds-protocols-ops §9.2). A pass lists candidate twins in SQL and reconciles each under its
 * row lock (`TwinService.reconcileConfigurations`), which is idempotent, so passes may overlap
 * across processes and repeat safely.
 *
 * - `full` (after a configuration is created, changed or deleted): every twin a configuration
 *   targets or has applied.
 * - `mismatch` (after twin writes in a hub with configurations, and every `intervalMs`): twins
 *   whose membership is out of date — matching a configuration they do not record, recording one
 *   they no longer match, or recording one that no longer exists. New devices are found here.
 */
export class ConfigurationReconciler {
  readonly #hubs = new Map<string, HubState>();
  #withConfigurations = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #idle = new Set<() => void>();

  constructor(
    private readonly o: { store: ConfigurationStore; queries: TwinQueryEngine; twins: TwinService; log: Logger; intervalMs: number },
  ) {}

  start(): void {
    const tick = async () => {
      try {
        this.#withConfigurations = new Set(await this.o.store.hubs());
        for (const hub of this.#withConfigurations) this.kick(hub, 'mismatch');
      } catch (err) {
        this.o.log.warn({ category: 'Configurations', err }, 'listing hubs with configurations failed; will retry');
      }
    };
    this.#timer = setInterval(() => void tick(), this.o.intervalMs);
    this.#timer.unref();
    void tick();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
  }

  /** A twin of this hub changed: re-check membership if the hub has configurations. */
  twinWritten(hub: string): void {
    if (this.#withConfigurations.has(hub)) this.kick(hub, 'mismatch');
  }

  /** Configurations of this hub changed. */
  configurationsChanged(hub: string): void {
    this.#withConfigurations.add(hub);
    this.kick(hub, 'full');
  }

  kick(hub: string, mode: Mode): void {
    if (this.#stopped) return;
    const s = this.#hubs.get(hub) ?? { running: false, pending: undefined };
    this.#hubs.set(hub, s);
    s.pending = s.pending === 'full' || mode === 'full' ? 'full' : 'mismatch';
    if (!s.running) void this.#run(hub, s);
  }

  /** Resolves when no pass is running or pending (tests wait on it). */
  async idle(): Promise<void> {
    while ([...this.#hubs.values()].some((s) => s.running || s.pending)) await new Promise<void>((r) => this.#idle.add(r));
  }

  async #run(hub: string, s: HubState): Promise<void> {
    s.running = true;
    try {
      while (s.pending && !this.#stopped) {
        const mode = s.pending;
        s.pending = undefined;
        try {
          const changed = await this.#pass(hub, mode);
          if (changed > 0) this.o.log.debug({ category: 'Configurations', hub, mode, changed }, 'configurations reconciled');
        } catch (err) {
          this.o.log.warn({ category: 'Configurations', err, hub }, 'configuration pass failed; the next one retries');
        }
      }
    } finally {
      s.running = false;
      for (const r of this.#idle) r();
      this.#idle.clear();
    }
  }

  async #pass(hub: string, mode: Mode): Promise<number> {
    const configs = await this.o.store.list(hub);
    const active = activate(configs);
    const where = mode === 'full' ? fullCondition(configs) : mismatchCondition(configs);
    let after = '';
    let changed = 0;
    for (;;) {
      const rows = await this.o.queries.deviceRows(hub, where, after, BATCH);
      for (let i = 0; i < rows.length; i += CONCURRENCY) {
        const results = await Promise.all(rows.slice(i, i + CONCURRENCY).map((r) => this.o.twins.reconcileConfigurations(identityOf(r), hub, active)));
        changed += results.filter(Boolean).length;
      }
      if (rows.length < BATCH) return changed;
      after = rows[rows.length - 1]!.device_id;
    }
  }
}

function targetSql(c: StoredConfiguration, schema: SqlSchema, params: SqlParams): string {
  return c.targetCondition === '*' ? 'TRUE' : `COALESCE(${conditionSql(parseExpression(c.targetCondition, { dialect: 'twin' }), schema, params)}, FALSE)`;
}

/** Every twin a configuration targets, or that records any configuration. */
function fullCondition(configs: readonly StoredConfiguration[]) {
  return (schema: SqlSchema, params: SqlParams) =>
    [...configs.map((c) => targetSql(c, schema, params)), "COALESCE(t.configurations, '{}'::jsonb) <> '{}'::jsonb"].join(' OR ');
}

/** Twins whose recorded configurations differ from the ones they match. */
function mismatchCondition(configs: readonly StoredConfiguration[]) {
  return (schema: SqlSchema, params: SqlParams) => {
    const terms = configs.map((c) => `(${targetSql(c, schema, params)} <> COALESCE(t.configurations ? ${params.add(c.id)}::text, FALSE))`);
    terms.push(`EXISTS (SELECT 1 FROM jsonb_object_keys(COALESCE(t.configurations, '{}'::jsonb)) k WHERE NOT (k = ANY(${params.add(configs.map((c) => c.id))}::text[])))`);
    return terms.join(' OR ');
  };
}
