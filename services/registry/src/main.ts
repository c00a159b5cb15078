import { runService } from '@openiothub/runtime';
import { createRegistryApp } from './app.js';
import { loadRegistryConfig } from './config.js';

await runService({
  name: 'registry',
  loadConfig: loadRegistryConfig,
  createApp: async (config, ctx) => {
    await createRegistryApp(config, ctx);
  },
});
