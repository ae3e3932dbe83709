import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, it } from 'vitest';

export interface ReadmeExampleOptions {
  /** Skip blocks whose source matches, with the reason shown in the test name. */
  skip?: { pattern: RegExp; reason: string }[];
  /** Per-block timeout in ms (default 60 s). */
  timeout?: number;
}

/** The ```ts blocks of a Markdown file, with the line each starts on. */
export function extractTypeScriptBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const fence = /^```(ts|typescript)\s*$([\s\S]*?)^```\s*$/gm;
  for (let m = fence.exec(markdown); m; m = fence.exec(markdown)) {
    blocks.push({ line: markdown.slice(0, m.index).split('\n').length, code: m[2]! });
  }
  return blocks;
}

/**
 * Runs every TypeScript example of a README as its own module, so the documentation cannot drift
 * from the code. Blocks that need cloud credentials are skipped by pattern, visibly.
 */
export function describeReadmeExamples(readmePath: string, options: ReadmeExampleOptions = {}): void {
  describe(`README examples: ${readmePath.split('/').slice(-2).join('/')}`, async () => {
    const blocks = extractTypeScriptBlocks(await readFile(readmePath, 'utf8'));
    const workDir = join(dirname(readmePath), '.readme-examples');
    afterAll(() => rm(workDir, { recursive: true, force: true }));
    it('has examples', () => {
      if (blocks.length === 0) throw new Error(`${readmePath} has no TypeScript examples`);
    });
    for (const [index, block] of blocks.entries()) {
      const skip = options.skip?.find((s) => s.pattern.test(block.code));
      const name = `block ${index + 1} (line ${block.line})${skip ? ` [skipped: ${skip.reason}]` : ''}`;
      (skip ? it.skip : it)(
        name,
        async () => {
          await mkdir(workDir, { recursive: true });
          const file = join(workDir, `block-${index + 1}.ts`);
          // `export {}` makes each block a module, so top-level await works and names don't clash.
          await writeFile(file, `${block.code}\nexport {};\n`);
          await import(/* @vite-ignore */ file);
        },
        options.timeout ?? 60_000,
      );
    }
  });
}
