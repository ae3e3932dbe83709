import { afterAll, beforeAll, expect, test } from 'vitest';
import { azureFs, createContainer, deleteContainer, recordingFs, runBounded, sdkClient, uniqueContainer } from './helpers.js';

const FILES = 2500;
const SUBDIRS = 30;
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

let container: string;
const fileNames = Array.from({ length: FILES }, (_, i) => `many/f${String(i).padStart(5, '0')}.txt`);
const subdirFiles = Array.from({ length: SUBDIRS }, (_, i) => `many/sub${String(i).padStart(2, '0')}/inner.txt`);

beforeAll(async () => {
  container = uniqueContainer('pages');
  await createContainer(container);
  const blobs = sdkClient().getContainerClient(container);
  // Created concurrently, as a real workload would.
  await runBounded(FILES + SUBDIRS, 48, (i) => {
    const name = i < FILES ? fileNames[i]! : subdirFiles[i - FILES]!;
    return blobs.getBlockBlobClient(name).upload(String(i), String(i).length);
  });
}, 600_000);

afterAll(async () => {
  await deleteContainer(container);
});

test('ls follows continuation tokens over 2,530 entries (pages of 1,000): every file and directory once, sorted', async () => {
  const { fs, seen } = recordingFs({ listPageSize: 1000 });
  const listed = await fs.ls(`${container}/many`);
  expect(seen.filter((r) => r === 'GET list'), '3 pages').toHaveLength(3);
  expect(listed).toHaveLength(FILES + SUBDIRS);
  const expected = [...fileNames, ...subdirFiles.map((f) => f.slice(0, -'/inner.txt'.length))].map((n) => `${container}/${n}`).sort(byCodeUnit);
  expect(listed.map((e) => e.name)).toEqual(expected);
  expect(listed.filter((e) => e.type === 'directory')).toHaveLength(SUBDIRS);
  expect(listed.find((e) => e.name === `${container}/many/f00042.txt`)).toMatchObject({ type: 'file', size: 2 });
});

test('find and du page through the flat listing (pages of 700)', async () => {
  const { fs, seen } = recordingFs({ listPageSize: 700 });
  const found = await fs.find(`${container}/many`);
  expect(seen.filter((r) => r === 'GET list'), '4 pages').toHaveLength(4);
  expect(found).toEqual([...fileNames, ...subdirFiles].map((n) => `${container}/${n}`).sort(byCodeUnit));
  const bytes = Array.from({ length: FILES + SUBDIRS }, (_, i) => String(i).length).reduce((a, b) => a + b, 0);
  expect(await fs.du(`${container}/many`)).toBe(bytes);
});

test('with the default page size the whole listing still arrives', async () => {
  const fs = azureFs();
  expect(await fs.find(container)).toHaveLength(FILES + SUBDIRS);
  expect(await fs.glob(`${container}/many/f01*.txt`)).toHaveLength(1000);
});
