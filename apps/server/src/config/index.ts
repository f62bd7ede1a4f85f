export { ConfigSchema, type Config } from './config-schema.js';
export { loadConfig, envNameFor, ConfigError } from './load-config.js';
export { checkSafety, type SafetyReport } from './safety.js';
