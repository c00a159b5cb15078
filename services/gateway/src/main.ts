import { runService } from '@openiothub/runtime';
import { createGatewayApp } from './app.js';
import { loadGatewayConfig } from './config.js';

await runService({
  name: 'gateway',
  loadConfig: loadGatewayConfig,
  createApp: async (config, ctx) => {
    await createGatewayApp(config, ctx);
  },
});
