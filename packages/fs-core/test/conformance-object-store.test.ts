import { fromAdapter } from '../src/index.js';
import { describeFileSystem } from '../src/testing/index.js';
import { MapObjectStoreAdapter } from './support/map-object-store.js';

// Checks that the suite itself runs unchanged on object-store semantics (no empty directories,
// virtual prefixes), so S3, GCS and Azure can adopt it as is.
describeFileSystem('object-store semantics (in-process test double)', async () => {
  const adapter = new MapObjectStoreAdapter(new Set(['bucket']));
  return { fs: fromAdapter(adapter), base: 'bucket/suite', rawPut: (path, data) => adapter.putRaw(path, data) };
}, { patch: 'none' });
