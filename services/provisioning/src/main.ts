import { runService } from '@openiothub/runtime';
import { createProvisioningApp } from './app.js';
import { loadProvisioningConfig } from './config.js';

await runService({
  name: 'provisioning',
  loadConfig: loadProvisioningConfig,
  createApp: async (config, ctx) => {
    await createProvisioningApp(config, ctx);
  },
});
