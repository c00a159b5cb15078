import type { Command } from 'commander';
import { Option } from 'commander';
import type { HubRestClient } from './rest-client.js';

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
