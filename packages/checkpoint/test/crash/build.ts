import { execFile } from 'node:child_process';
import { mkdir, readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const packageDir = fileURLToPath(new URL('../..', import.meta.url));
const lockDir = join(packageDir, 'dist', '.build-lock');

async function isFresh(): Promise<boolean> {
  const built = await stat(join(packageDir, 'dist', 'index.js')).then((s) => s.mtimeMs, () => 0);
  const sources = await readdir(join(packageDir, 'src'));
  const newest = Math.max(...(await Promise.all(sources.map((f) => stat(join(packageDir, 'src', f)).then((s) => s.mtimeMs)))));
  return built > newest;
}

/**
 * Builds dist/ (which child processes of the tests run) unless it is newer than every source file.
 * Test files run in parallel, so one builds under a lock while the others wait: a second tsc
 * rewriting dist/ under a running child would hand it half-written modules.
 */
export async function ensureBuilt(): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (await isFresh()) return;
    try {
      await mkdir(join(packageDir, 'dist'), { recursive: true });
      await mkdir(lockDir);
    } catch (error) {
      if ((error as { code?: string }).code !== 'EEXIST') throw error;
      if (Date.now() > deadline) throw new Error(`Timed out waiting for another build of ${packageDir} (remove ${lockDir} if none runs)`);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      if (!(await isFresh())) await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: packageDir });
      return;
    } finally {
      await rmdir(lockDir);
    }
  }
}
