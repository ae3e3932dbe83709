import { readFileSync } from 'node:fs';

/** This package's version, written into every checkpoint as `strata_version`. */
export const STRATA_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
