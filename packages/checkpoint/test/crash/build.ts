import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));

/** Builds dist/ (which the crash child runs) unless it is newer than every source file. */
export async function ensureBuilt(): Promise<void> {
  const built = await stat(join(packageDir, 'dist', 'index.js')).then((s) => s.mtimeMs, () => 0);
  const sources = await readdir(join(packageDir, 'src'));
  const newest = Math.max(...(await Promise.all(sources.map((f) => stat(join(packageDir, 'src', f)).then((s) => s.mtimeMs)))));
  if (built > newest) return;
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir });
}
