import { baseSchema, parseConfig, z } from '@openiothub/config';

export const localConfigSchema = z.object({
  ...baseSchema,
  DATA_DIR: z.string().default('.data').describe('certificates, embedded data and local-hub.json'),
  HUB_NAME: z.string().default('localhost').describe('the hub served at localhost'),
});
export type LocalConfig = z.infer<typeof localConfigSchema>;

export function loadLocalConfig(env: Record<string, string | undefined> = process.env): LocalConfig {
  return parseConfig(localConfigSchema, env);
}
