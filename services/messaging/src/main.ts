import { runService } from '@openiothub/runtime';
import { createMessagingApp } from './app.js';
import { loadMessagingConfig } from './config.js';

await runService({
  name: 'messaging',
  loadConfig: loadMessagingConfig,
  createApp: async (config, ctx) => {
    await createMessagingApp(config, ctx);
  },
});
