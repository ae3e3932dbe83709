// Sums the vitest JSON reports every package wrote during `npm test` into one closing line.
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const folders = ['packages', 'tools'].flatMap((d) => readdirSync(join(root, d), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, d, e.name)));
if (process.argv.includes('--clean')) {
  // Before a run: drop reports of earlier runs so the summary counts this run only.
  for (const folder of [...folders, join(root, 'bench')]) rmSync(join(folder, '.test-results'), { recursive: true, force: true });
  process.exit(0);
}
let passed = 0, failed = 0, skipped = 0, files = 0;
for (const folder of [...folders, join(root, 'bench')]) {
  const report = join(folder, '.test-results', 'vitest.json');
  if (!existsSync(report)) continue;
  const r = JSON.parse(readFileSync(report, 'utf8'));
  files++;
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
}
if (files === 0 || passed === 0) {
  console.error('test summary: no test reports found');
  process.exit(1);
}
console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 ? 1 : 0);
