import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/ (this file is bench/dist/lib/paths.js once built). */
export const benchDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const repoRoot = path.resolve(benchDir, '..');
export const resultsDir = path.join(benchDir, 'results');
