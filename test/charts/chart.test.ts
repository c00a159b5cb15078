import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { findHelm } from './helm.js';

// The Helm chart, offline: `helm lint` and `helm template` (pinned Kubernetes version) for the
// default, dev and HA values; every rendered manifest validated against the Kubernetes API schemas
// (kubernetes-models); what every workload must have (probes, non-root, read-only root, grace
// above the shutdown timeout, config checksum, a PodDisruptionBudget); the values schema refusing
// bad values; golden files so a change to the rendered output is a reviewable diff
// (UPDATE_GOLDEN=1 rewrites them).

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const chart = join(root, 'charts/openiothub');
const KUBE_VERSION = '1.33.0';
const helm = findHelm();

const VALUES = {
  default: [],
  dev: ['-f', join(root, 'deploy/values-dev.yaml')],
  ha: ['-f', join(root, 'deploy/values-ha.yaml')],
} as const;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> }; spec?: Record<string, unknown>; data?: Record<string, string> };

async function template(args: readonly string[], name = 'oih'): Promise<string> {
  const { stdout } = await run(helm!, ['template', name, chart, '--namespace', 'iot', '--kube-version', KUBE_VERSION, ...args], { maxBuffer: 32 * 1024 * 1024 });
  return stdout;
}

function parse(rendered: string): Manifest[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as Manifest | null)
    .filter((m): m is Manifest => m !== null);
}

/** A generated secret differs on every render: golden files keep a placeholder. */
const normalize = (rendered: string) => rendered.replace(/(STREAMS_TOKEN_SECRET: )"[A-Za-z0-9+/=]{40,}"/g, '$1"<generated>"');

/** kubernetes-models class for a manifest: kubernetes-models/{group or v1}/{version}/{Kind}. */
async function validate(m: Manifest): Promise<void> {
  const [group, version] = m.apiVersion.includes('/') ? m.apiVersion.split('/') : ['', m.apiVersion];
  const path = group ? `kubernetes-models/${group}/${version}/${m.kind}` : `kubernetes-models/${version}/${m.kind}`;
  const mod = (await import(path)) as Record<string, new (o: unknown) => { validate(): void }>;
  new mod[m.kind]!(m).validate();
}

const workloads = (ms: Manifest[]) => ms.filter((m) => (m.kind === 'Deployment' || m.kind === 'StatefulSet') && m.metadata.labels?.['app.kubernetes.io/part-of'] === 'openiothub' && /-(gateway|registry|twin|messaging|routing|jobs|streams|provisioning)$/.test(m.metadata.name));

type PodSpec = {
  terminationGracePeriodSeconds: number;
  securityContext: { runAsNonRoot: boolean };
  containers: Array<{ args: string[]; readinessProbe: { httpGet: { path: string; port: string } }; livenessProbe: { httpGet: { path: string; port: string } }; ports: Array<{ name: string; containerPort: number }>; securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean } }>;
};
const podOf = (m: Manifest) => (m.spec as { template: { spec: PodSpec; metadata: { annotations: Record<string, string> } } }).template;

describe.skipIf(!helm)('the Helm chart', () => {
  for (const [name, args] of Object.entries(VALUES)) {
    describe(`${name} values`, () => {
      it('passes helm lint', async () => {
        const { stdout } = await run(helm!, ['lint', chart, '--strict', '--kube-version', KUBE_VERSION, ...args]);
        expect(stdout).toContain('0 chart(s) failed');
      });

      it('renders manifests the Kubernetes API schemas accept, matching the golden file', async () => {
        const rendered = await template(args);
        const manifests = parse(rendered);
        expect(manifests.length).toBeGreaterThan(20);
        for (const m of manifests) {
          if (m.apiVersion.startsWith('cert-manager.io/')) continue; // a CRD: no schema offline
          await expect(validate(m), `${m.kind} ${m.metadata.name}`).resolves.toBeUndefined();
        }
        const golden = join(import.meta.dirname, 'golden', `${name}.yaml`);
        if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(golden, normalize(rendered));
        expect(normalize(rendered)).toBe(readFileSync(golden, 'utf8'));
      });

      it('gives every service probes on the admin port, a non-root read-only container, a grace period above the shutdown timeout, a config checksum and a PodDisruptionBudget', async () => {
        const manifests = parse(await template(args));
        const services = workloads(manifests);
        expect(services.map((w) => w.metadata.name.replace(/^oih-openiothub-/, '')).sort()).toEqual(['gateway', 'jobs', 'messaging', 'provisioning', 'registry', 'routing', 'streams', 'twin']);
        const config = manifests.find((m) => m.kind === 'ConfigMap')!;
        const shutdownMs = Number(config.data!['SHUTDOWN_TIMEOUT_MS']) + Number(config.data!['SHUTDOWN_DELAY_MS']);
        for (const w of services) {
          const pod = podOf(w);
          const c = pod.spec.containers[0]!;
          expect(c.args).toEqual([`services/${w.metadata.name.replace(/^oih-openiothub-/, '')}/dist/main.js`]);
          expect(c.ports).toContainEqual({ name: 'admin', containerPort: 9464 });
          expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
          expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'admin' });
          expect(pod.spec.securityContext.runAsNonRoot).toBe(true);
          expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
          expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs);
          expect(pod.metadata.annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
          expect(manifests.some((m) => m.kind === 'PodDisruptionBudget' && m.metadata.name === w.metadata.name)).toBe(true);
        }
        const gateway = manifests.find((m) => m.kind === 'Service' && m.metadata.name === 'oih-openiothub-gateway')!;
        expect((gateway.spec as { ports: Array<{ port: number }> }).ports.map((p) => p.port)).toEqual([443, 8883, 5671]);
      });
    });
  }

  it('default: evaluation back ends in the cluster, NATS JetStream with 3 routed servers; HA: external ones, cert-manager, HPA on connections', async () => {
    const dflt = parse(await template([]));
    const nats = dflt.find((m) => m.kind === 'StatefulSet' && m.metadata.name === 'oih-openiothub-nats')!;
    expect((nats.spec as { replicas: number }).replicas).toBe(3);
    expect(JSON.stringify(nats.spec)).toContain('--routes=nats://oih-openiothub-nats-0.oih-openiothub-nats-cluster:6222,nats://oih-openiothub-nats-1.');
    expect(dflt.filter((m) => m.kind === 'Service').map((m) => m.metadata.name)).toEqual(expect.arrayContaining(['oih-openiothub-postgresql', 'oih-openiothub-redis', 'oih-openiothub-azurite', 'oih-openiothub-nats']));
    const ha = parse(await template(VALUES.ha));
    expect(ha.some((m) => m.metadata.name.endsWith('-postgresql') || m.metadata.name.endsWith('-nats'))).toBe(false);
    expect(ha.find((m) => m.kind === 'Certificate')?.spec).toMatchObject({ dnsNames: expect.arrayContaining(['*.iot.example.com']) });
    const hpa = ha.find((m) => m.kind === 'HorizontalPodAutoscaler' && m.metadata.name === 'oih-openiothub-gateway')!;
    expect(JSON.stringify(hpa.spec)).toContain('openiothub_gateway_connections');
    // the backing URLs come from the operator's Secret, not a rendered one
    expect(ha.some((m) => m.kind === 'Secret' && m.metadata.name === 'oih-openiothub-backing')).toBe(false);
    expect(JSON.stringify(workloads(ha)[0]!.spec)).toContain('"name":"openiothub-backing"');
  });

  it('restarts pods when their configuration changes (the checksum follows the ConfigMap and Secret)', async () => {
    const checksum = async (args: string[]) => podOf(workloads(parse(await template(args)))[0]!).metadata.annotations['checksum/config'];
    const base = await checksum([]);
    expect(await checksum([])).toBe(base);
    expect(await checksum(['--set', 'logLevel=debug'])).not.toBe(base);
    expect(await checksum(['--set', 'evaluation.redis.enabled=false', '--set', 'external.redisUrl=redis://elsewhere:6379'])).not.toBe(base);
  });

  it.each([
    [['--set', 'services.gateway.replicas=-1'], "at '/services/gateway/replicas'"],
    [['--set', 'hubs[0].name=Bad_Name', '--set', 'hubs[0].sku=S1', '--set', 'hubs[0].units=1', '--set', 'hubs[0].partitionCount=4'], "at '/hubs/0/name'"],
    [['--set', 'logLevel=loud'], "at '/logLevel'"],
    [['--set', 'external.redisUrl=http://x'], "at '/external/redisUrl'"],
    [['--set', 'evaluation.nats.replicas=2'], "at '/evaluation/nats/replicas'"],
    [['--set', 'services.twin.env.lower=1'], "'lower' does not match pattern"],
    [['--set', 'unknownKey=1'], 'additional properties'],
    [['--set', 'evaluation.postgresql.enabled=false'], 'external.postgresUrl (or external.existingSecret, or evaluation.postgresql.enabled) is required'],
  ])('refuses bad values %j', async (args, message) => {
    await expect(template(args)).rejects.toMatchObject({ stderr: expect.stringContaining(message) });
  });

  it('NOTES.txt tells how to reach the gateway and read connection strings', async () => {
    // helm template leaves NOTES.txt out: render it through tpl inside a ConfigMap of a copy of the chart
    const dir = mkdtempSync(join(tmpdir(), 'chart-'));
    try {
      cpSync(chart, join(dir, 'openiothub'), { recursive: true });
      renameSync(join(dir, 'openiothub/templates/NOTES.txt'), join(dir, 'openiothub/notes.txt'));
      writeFileSync(join(dir, 'openiothub/templates/notes.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n');
      const rendered = await run(helm!, ['template', 'oih', join(dir, 'openiothub'), '--namespace', 'iot', '--kube-version', KUBE_VERSION, '--show-only', 'templates/notes.yaml']);
      const stdout = String((parse(rendered.stdout)[0]!.data as Record<string, string>)['notes']);
      expect(stdout).toContain('kubectl get service oih-openiothub-gateway -n iot');
      expect(stdout).toContain('hub connection-string show --policy-name iothubowner');
      expect(stdout).toContain('hub "myhub" is myhub.iot.example.com');
      expect(stdout).toContain('WARNING: in-cluster Postgres/NATS/Redis/Azurite are for evaluation only');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// outside CI a machine without helm (and without Go to build it) skips the chart tests, visibly
it.runIf(process.env['CI'] === 'true')('CI has helm (npm test builds it with Go: go install helm.sh/helm/v3/cmd/helm@v3.21.4)', () => {
  expect(helm, 'helm binary').toBeDefined();
});
