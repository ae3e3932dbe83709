// Merges the scenarios of a second (partial) full-size run into a results file and re-renders it,
// e.g. after re-running scenarios that a first run could not reach.
// Usage: node dist/tools/merge.js <into.json> <from.json> [scenario ids, comma-separated; default all]
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

import { renderMarkdown, type BenchResults } from '../lib/report.js';
import { FULL, buildScenarios } from '../scenarios.js';

const [intoFile, fromFile, onlyIds] = process.argv.slice(2);
if (!intoFile || !fromFile) throw new Error('usage: merge <into.json> <from.json>');
const into = JSON.parse(readFileSync(intoFile, 'utf8')) as BenchResults;
const from = JSON.parse(readFileSync(fromFile, 'utf8')) as BenchResults;
if (into.mode !== 'full' || from.mode !== 'full') throw new Error('only full-size runs can be merged');
const order = buildScenarios(FULL, os.tmpdir()).map((s) => s.id);
const byId = new Map(into.scenarios.map((s) => [s.id, s]));
const wanted = onlyIds ? new Set(onlyIds.split(',')) : undefined;
from.scenarios = from.scenarios.filter((s) => !wanted || wanted.has(s.id));
for (const s of from.scenarios) {
  s.notes = [...s.notes, `Measured in a later run started ${from.machine.date.slice(0, 16).replace('T', ' ')} UTC at commit ${from.machine.gitCommit} (load average at its start ${from.machine.loadAverageStart.toFixed(2)}).`];
  byId.set(s.id, s);
}
into.scenarios = [...byId.values()].sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
into.complete = order.every((id) => byId.has(id));
into.durationSeconds += from.durationSeconds;
into.machine.loadAverageEnd = from.machine.loadAverageEnd;
writeFileSync(intoFile, `${JSON.stringify(into, null, 2)}\n`);
writeFileSync(intoFile.replace(/\.json$/, '.md'), renderMarkdown(into, buildScenarios(FULL, os.tmpdir())));
console.log(`merged ${from.scenarios.map((s) => s.id).join(', ')} into ${intoFile}`);
