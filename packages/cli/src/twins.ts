import type { Command } from 'commander';
import { restPath as path, type HubRestClient } from './rest-client.js';

type Json = Record<string, unknown>;

/** `iothub device-twin show|update|replace`, `iothub invoke-device-method`, `iothub invoke-module-method` (service REST). */
export function addTwinCommands(program: Command, rest: () => HubRestClient, print: (v: unknown) => void): void {
  const twinPath = (o: { deviceId: string; moduleId?: string }) => (o.moduleId ? path('twins', o.deviceId, 'modules', o.moduleId) : path('twins', o.deviceId));
  const parseJsonArg = (text: string, what: string): unknown => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new Error(`${what} must be JSON, e.g. '{"interval": 5}'.`);
    }
  };
  const twin = program.command('device-twin').description('device and module twins');
  twin
    .command('show')
    .requiredOption('-d, --device-id <id>')
    .option('-m, --module-id <id>')
    .action(async (o) => print(await rest().send('GET', twinPath(o))));
  twin
    .command('update')
    .description('merge a patch into tags and/or desired properties')
    .requiredOption('-d, --device-id <id>')
    .option('-m, --module-id <id>')
    .option('--desired <json>', 'desired properties patch (null deletes a key)')
    .option('--tags <json>', 'tags patch (null deletes a key)')
    .option('--etag <etag>', 'update only if the twin still has this etag', '*')
    .action(async (o) => {
      if (!o.desired && !o.tags) throw new Error('Give --desired and/or --tags.');
      const patch: Json = {};
      if (o.tags) patch['tags'] = parseJsonArg(o.tags, '--tags');
      if (o.desired) patch['properties'] = { desired: parseJsonArg(o.desired, '--desired') };
      print(await rest().send('PATCH', twinPath(o), patch, { 'if-match': `"${o.etag}"` }));
    });
  twin
    .command('replace')
    .description('replace tags and desired properties with a twin document')
    .requiredOption('-d, --device-id <id>')
    .option('-m, --module-id <id>')
    .requiredOption('-j, --json <json>', 'twin document: {"tags": {...}, "properties": {"desired": {...}}}')
    .option('--etag <etag>', 'replace only if the twin still has this etag', '*')
    .action(async (o) => print(await rest().send('PUT', twinPath(o), parseJsonArg(o.json, '--json'), { 'if-match': `"${o.etag}"` })));

  const invoke = async (o: { deviceId: string; moduleId?: string; methodName: string; methodPayload: string; timeout: string; connectTimeout: string }) => {
    const body = {
      methodName: o.methodName,
      payload: parseJsonArg(o.methodPayload, '--method-payload'),
      responseTimeoutInSeconds: Number(o.timeout),
      connectTimeoutInSeconds: Number(o.connectTimeout),
    };
    print(await rest().send('POST', `${twinPath(o)}/methods`, body));
  };
  const methodOptions = (c: Command) =>
    c
      .requiredOption('--mn, --method-name <name>')
      .option('--mp, --method-payload <json>', 'payload (JSON)', 'null')
      .option('--to, --timeout <seconds>', 'response timeout, 5-300', '30')
      .option('--ct, --connect-timeout <seconds>', 'wait this long for an offline device to connect, 0-300', '0');
  methodOptions(program.command('invoke-device-method').description('call a direct method on a device').requiredOption('-d, --device-id <id>')).action(invoke);
  methodOptions(
    program.command('invoke-module-method').description('call a direct method on a module').requiredOption('-d, --device-id <id>').requiredOption('-m, --module-id <id>'),
  ).action(invoke);
}
