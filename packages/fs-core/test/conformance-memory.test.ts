import { filesystem } from '../src/index.js';
import { describeFileSystem } from '../src/testing/index.js';

describeFileSystem('memory', async () => {
  const fs = await filesystem('memory', { store: 'private' });
  return { fs, base: '/conformance', teardown: () => fs.close() };
}, { patch: 'anywhere' });

// The default, process-wide store runs the same suite under its own base.
describeFileSystem('memory (shared store)', async () => {
  const fs = await filesystem('memory');
  const base = `/conformance-shared-${process.pid}`;
  return {
    fs,
    base,
    teardown: async () => {
      if (await fs.exists(base)) await fs.rm(base, { recursive: true });
      await fs.close();
    },
  };
}, { patch: 'anywhere' });
