import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { configurationMarkdown } from './describe-config.js';

/** `npm run docs:config`: regenerates docs/configuration.md from the schema. */
const target = path.resolve(import.meta.dirname, '../../../../docs/configuration.md');
writeFileSync(target, configurationMarkdown());
console.warn(`wrote ${target}`);
