import { runService } from '@openiothub/runtime';
import { createRoutingApp } from './app.js';
import { loadRoutingConfig } from './config.js';

await runService({
  name: 'routing',
  loadConfig: loadRoutingConfig,
  createApp: async (config, ctx) => {
    await createRoutingApp(config, ctx);
  },
});
