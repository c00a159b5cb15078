import { runService } from '@openiothub/runtime';
import { loadLocalConfig } from './config.js';
import { startLocalHub } from './local-hub.js';

await runService({
  name: 'openiothub-local',
  loadConfig: loadLocalConfig,
  createApp: async (config, ctx) => {
    const info = await startLocalHub({ dataDir: config.DATA_DIR, env: process.env, hub: config.HUB_NAME }, ctx);
    const httpsNote = info.ports.https === 443 ? '' : `\n  note: HTTPS is on ${info.ports.https}, not 443; the Azure SDKs' REST and WebSocket transports always dial 443.`;
    process.stdout.write(
      [
        '',
        'Open IoT Hub is running.',
        `  hub:            ${info.hub} (HostName=${info.hostName})`,
        `  HTTPS:          https://${info.hostName}:${info.ports.https}  (service and device REST, MQTT and AMQP over WebSockets)`,
        `  MQTT:           mqtts://${info.hostName}:${info.ports.mqtt}`,
        `  AMQP:           amqps://${info.hostName}:${info.ports.amqp}`,
        `  owner connection string:`,
        `    ${info.ownerConnectionString}`,
        `  built-in endpoint (Event Hubs-compatible, for @azure/event-hubs):`,
        `    ${info.eventHubsConnectionString}`,
        `  file upload storage (blob connection string):`,
        `    ${info.storageConnectionString}`,
        `  second hub (for DPS allocation): ${info.secondHub.hub} (HostName=${info.secondHub.hostName})`,
        `  Device Provisioning Service: provisioningHost=${info.dps.provisioningHost}  idScope=${info.dps.idScope}`,
        `  DPS service connection string:`,
        `    ${info.dps.connectionString}`,
        `  trust the dev CA in every SDK process:`,
        `    export NODE_EXTRA_CA_CERTS=${info.caCertPath}`,
        `  settings for scripts: ${config.DATA_DIR}/local-hub.json${httpsNote}`,
        '',
      ].join('\n') + '\n',
    );
  },
});
