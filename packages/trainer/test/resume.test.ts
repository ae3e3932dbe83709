import { afterAll, describe } from 'vitest';
import { freshRoot } from './helpers.js';
import { exactResumeCases } from './resume-cases.js';

for (const kind of ['memory', 'file'] as const) {
  describe(`exact resume on ${kind}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      await Promise.all(cleanups.map((c) => c()));
    });
    exactResumeCases({
      root: async () => {
        const { root, cleanup } = await freshRoot(kind);
        cleanups.push(cleanup);
        return root;
      },
    });
  });
}
