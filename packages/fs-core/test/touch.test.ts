import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { filesystem, type FileSystem } from '../src/index.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function backend(kind: 'file' | 'memory'): Promise<{ fs: FileSystem; base: string }> {
  if (kind === 'memory') return { fs: await filesystem('memory', { store: 'private' }), base: '/touch' };
  const base = await mkdtemp(join(tmpdir(), 'strata-touch-'));
  dirs.push(base);
  return { fs: await filesystem('file'), base };
}

describe.each(['file', 'memory'] as const)('touch on %s', (kind) => {
  it('gives an existing file a new mtime and keeps its bytes, as POSIX touch does', async () => {
    const { fs, base } = await backend(kind);
    const path = `${base}/kept.txt`;
    await fs.pipe(path, 'content');
    const before = (await fs.info(path)).mtime!;
    await new Promise((resolve) => setTimeout(resolve, 20));
    await fs.touch(path);
    const after = await fs.info(path);
    expect(after.mtime!.getTime()).toBeGreaterThan(before.getTime());
    expect(new TextDecoder().decode(await fs.cat(path))).toBe('content');
  });
});
