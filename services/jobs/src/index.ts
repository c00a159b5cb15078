export { createJobsApp } from './app.js';
export type { JobsApp } from './app.js';
export { loadJobsConfig, jobsConfigSchema } from './config.js';
export type { JobsConfig } from './config.js';
