import { runService } from '@openiothub/runtime';
import { createStreamsApp } from './app.js';
import { loadStreamsConfig } from './config.js';

await runService({
  name: 'streams',
  loadConfig: loadStreamsConfig,
  createApp: async (config, ctx) => {
    await createStreamsApp(config, ctx);
  },
});
