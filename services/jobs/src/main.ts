import { runService } from '@openiothub/runtime';
import { createJobsApp } from './app.js';
import { loadJobsConfig } from './config.js';

await runService({
  name: 'jobs',
  loadConfig: loadJobsConfig,
  createApp: async (config, ctx) => {
    await createJobsApp(config, ctx);
  },
});
