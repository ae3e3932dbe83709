import { afterAll, describe } from 'vitest';
import { modelCheckpointCases } from './checkpoint-cases.js';
import { freshRoot } from './helpers.js';

for (const kind of ['memory', 'file'] as const) {
  describe(`ModelCheckpoint on ${kind}`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterAll(async () => {
      await Promise.all(cleanups.map((c) => c()));
    });
    modelCheckpointCases({
      root: async () => {
        const { root, cleanup } = await freshRoot(kind);
        cleanups.push(cleanup);
        return root;
      },
    });
  });
}
