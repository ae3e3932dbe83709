// Re-renders a results Markdown file from its JSON (after a change to the report layout).
// Usage: node dist/tools/render.js [results/latest.json]
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { BenchResults } from '../lib/report.js';
import { renderMarkdown } from '../lib/report.js';
import { resultsDir } from '../lib/paths.js';
import { FULL, QUICK, buildScenarios } from '../scenarios.js';

const file = path.resolve(process.argv[2] ?? path.join(resultsDir, 'latest.json'));
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
const scenarios = buildScenarios(results.mode === 'quick' ? QUICK : FULL, os.tmpdir());
const target = file.replace(/\.json$/, '.md');
writeFileSync(target, renderMarkdown(results, scenarios));
console.log(`wrote ${target}`);
