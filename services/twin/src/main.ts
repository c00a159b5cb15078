import { runService } from '@openiothub/runtime';
import { createTwinApp } from './app.js';
import { loadTwinConfig } from './config.js';

await runService({
  name: 'twin',
  loadConfig: loadTwinConfig,
  createApp: async (config, ctx) => {
    await createTwinApp(config, ctx);
  },
});
