import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { filesystem } from '../src/index.js';
import { describeFileSystem } from '../src/testing/index.js';

describeFileSystem('file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'strata-conformance-file-'));
  const fs = await filesystem('file');
  return {
    fs,
    base: dir,
    teardown: async () => {
      await fs.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}, { patch: 'anywhere' });

describeFileSystem('file with root', async () => {
  const root = await mkdtemp(join(tmpdir(), 'strata-conformance-root-'));
  const fs = await filesystem('file', { root });
  return {
    fs,
    base: '/suite',
    teardown: async () => {
      await fs.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}, { patch: 'anywhere' });
