import { filesystem, urlToFs } from '@strata/fs-core';
import { afterAll, beforeAll, expect, it } from 'vitest';

import { createBucket, destroyBucket, ensureBuilt, rawStorage, server } from './helpers.js';

const storage = rawStorage();
let bucket: string;
beforeAll(async () => {
  ensureBuilt(); // the registry imports @strata/fs-gcs, i.e. dist/
  bucket = await createBucket(storage, 'registry');
});
afterAll(async () => {
  if (bucket) await destroyBucket(storage, bucket);
});

it("fs-core's registry loads this package for gs:// and gcs://, with keyed or flat options", async () => {
  const { endpoint, projectId } = server();
  const keyed = await urlToFs(`gs://${bucket}/reg/a.txt`, { gcs: { apiEndpoint: endpoint, projectId } });
  expect(keyed.fs.protocol).toBe('gs');
  expect(keyed.path).toBe(`${bucket}/reg/a.txt`);
  await keyed.fs.pipe(keyed.path, 'via the registry');

  const flat = await urlToFs(`gcs://${bucket}/reg/a.txt`, { apiEndpoint: endpoint });
  expect(flat.fs.protocol).toBe('gcs');
  expect(new TextDecoder().decode(await flat.fs.cat(flat.path))).toBe('via the registry');

  const direct = await filesystem('gs', { apiEndpoint: endpoint });
  expect(await direct.exists(`${bucket}/reg/a.txt`)).toBe(true);
});
