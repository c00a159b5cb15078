import type { Command } from 'commander';
import { Option } from 'commander';
import type { HubRestClient } from './rest-client.js';
import type { registryAdmin } from './registry-admin.js';

type WithAdmin = <T>(fn: (admin: ReturnType<typeof registryAdmin>, hub: string) => Promise<T>) => Promise<T>;

/** `iothub hub create` (registry gRPC) and `iothub hub sku show|set` (the throttles of the quota table). */
export function addHubSettingsCommands(hubCmd: Command, withAdmin: WithAdmin, rest: () => HubRestClient, print: (v: unknown) => void): void {
  hubCmd
    .command('create')
    .description('create a hub in this deployment (registry gRPC): its policies with fresh keys, its built-in endpoint')
    .requiredOption('-n, --name <hub>')
    .option('--partition-count <n>', 'built-in endpoint partitions (2-128)', '4')
    .option('--retention-days <n>', 'built-in endpoint retention (1-7)', '1')
    .option('--sku <name>', 'F1, B1-B3, S1-S3 or unlimited', 'unlimited')
    .option('--unit <n>', 'units of the SKU', '1')
    .action((o) =>
      withAdmin(async (a) => {
        const created = await a.ensureHub({ hub: o.name, partitionCount: Number(o.partitionCount), retentionDays: Number(o.retentionDays) });
        const { hub } = await a.putSku({ hub: o.name, skuName: o.sku, skuUnits: Number(o.unit) });
        print({ ...hub, created: created.created });
      }),
    );
  hubCmd
    .command('show-quota-metrics')
    .description('messages metered today (UTC) against the daily quota, and the device count against its limit')
    .action(async () => print(((await rest().send('GET', '/settings/quotaMetrics')) as { value: unknown[] }).value));
  const sku = hubCmd.command('sku').description("the hub's SKU and units: the throttles of IoT Hub's quota table (unlimited: none)");
  sku.command('show').action(async () => print(await rest().send('GET', '/settings/sku')));
  sku
    .command('set')
    .requiredOption('--sku <name>', 'F1, B1-B3, S1-S3 or unlimited')
    .option('--unit <n>', 'units', '1')
    .action(async (o) => print(await rest().send('PUT', '/settings/sku', { name: o.sku, capacity: Number(o.unit) })));
}

type Rule = { filterName: string; action: string; ipMask: string };

/** `iothub ip-filter list|add|remove|clear` (the hub's `properties.ipFilterRules`, read-modify-write with If-Match). */
export function addIpFilterCommands(program: Command, rest: () => HubRestClient, print: (v: unknown) => void): void {
  const cmd = program.command('ip-filter').description('IP filter rules of the hub: ordered, the first rule matching a client decides');
  const read = async () => (await rest().send('GET', '/settings/ipFilter')) as { ipFilterRules: Rule[]; etag: string };
  const write = async (rules: Rule[], etag: string) => print(await rest().send('PUT', '/settings/ipFilter', { ipFilterRules: rules }, { 'if-match': etag }));
  cmd.command('list').action(async () => print((await read()).ipFilterRules));
  cmd
    .command('add')
    .requiredOption('-n, --name <filterName>')
    .addOption(new Option('-a, --action <action>').choices(['Accept', 'Reject']).makeOptionMandatory())
    .requiredOption('-m, --ip-mask <mask>', 'IPv4 address or CIDR block')
    .option('-i, --index <n>', 'position (0 = first); default last')
    .action(async (o) => {
      const { ipFilterRules, etag } = await read();
      const rules = [...ipFilterRules];
      rules.splice(o.index === undefined ? rules.length : Number(o.index), 0, { filterName: o.name, action: o.action, ipMask: o.ipMask });
      await write(rules, etag);
    });
  cmd
    .command('remove')
    .requiredOption('-n, --name <filterName>')
    .action(async (o) => {
      const { ipFilterRules, etag } = await read();
      const rules = ipFilterRules.filter((r) => r.filterName.toLowerCase() !== String(o.name).toLowerCase());
      if (rules.length === ipFilterRules.length) throw new Error(`no IP filter rule named ${o.name}`);
      await write(rules, etag);
    });
  cmd.command('clear').action(async () => write([], (await read()).etag));
}
