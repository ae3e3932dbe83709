// Where fake-gcs-server (v1.56.1) behaves differently from real GCS in ways the adapter cares about.
// Each test pins one difference down, so the README's list stays true; if the emulator changes,
// the test fails and the README (and maybe the adapter) needs another look.
import type { Storage } from '@google-cloud/storage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { KiB, countingBytes, createBucket, destroyBucket, rawStorage, server } from './helpers.js';

let storage: Storage;
let bucket: string;

beforeAll(async () => {
  storage = rawStorage();
  bucket = await createBucket(storage, 'emulator');
});
afterAll(async () => {
  if (bucket) await destroyBucket(storage, bucket);
});

async function openSession(key: string): Promise<string> {
  const url = `${server().endpoint}/upload/storage/v1/b/${bucket}/o?uploadType=resumable&name=${encodeURIComponent(key)}`;
  const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: key }) });
  expect(response.status).toBe(200);
  await response.arrayBuffer();
  return response.headers.get('location')!;
}

async function put(session: string, range: string, body?: Uint8Array): Promise<Response> {
  const response = await fetch(session, { method: 'PUT', headers: { 'Content-Range': range }, body: body ?? null, redirect: 'manual' });
  await response.arrayBuffer();
  return response;
}

async function objectSize(key: string): Promise<number | undefined> {
  const [exists] = await storage.bucket(bucket).file(key).exists();
  if (!exists) return undefined;
  const [metadata] = await storage.bucket(bucket).file(key).getMetadata();
  return Number(metadata.size);
}

describe('fake-gcs-server differences from real GCS', () => {
  it('reads ignore ifGenerationMatch (real GCS: 412), so the adapter also pins `generation`', async () => {
    await storage.bucket(bucket).file('gen/a.txt').save('a', { resumable: false });
    const response = await fetch(`${server().endpoint}/storage/v1/b/${bucket}/o/gen%2Fa.txt?alt=media&ifGenerationMatch=1`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('a');
  });

  it('a cancelled session (DELETE → 499) still accepts a final chunk and creates the object (real GCS: the session is gone)', async () => {
    const session = await openSession('cancelled/x.bin');
    const cancel = await fetch(session, { method: 'DELETE' });
    expect(cancel.status).toBe(499);
    const late = await put(session, 'bytes 0-9/10', countingBytes(10));
    expect(late.status).toBe(200);
    expect(await objectSize('cancelled/x.bin')).toBe(10);
  });

  it('a status query (PUT bytes */*) finalises the upload with the bytes so far (real GCS: 308 + Range), so the adapter only asks after a failed chunk', async () => {
    const session = await openSession('status/x.bin');
    const first = await put(session, `bytes 0-${256 * KiB - 1}/*`, countingBytes(256 * KiB));
    expect(first.status).toBe(308);
    const status = await put(session, 'bytes */*');
    expect(status.status).toBe(200);
    expect(await objectSize('status/x.bin')).toBe(256 * KiB);
  });

  it('a resent chunk is appended again instead of being matched to its offset (real GCS keeps one copy)', async () => {
    const session = await openSession('resent/x.bin');
    const chunk = countingBytes(256 * KiB);
    expect((await put(session, `bytes 0-${256 * KiB - 1}/*`, chunk)).status).toBe(308);
    expect((await put(session, `bytes 0-${256 * KiB - 1}/*`, chunk)).status).toBe(308);
    expect((await put(session, `bytes */${256 * KiB}`)).status).toBe(200);
    expect(await objectSize('resent/x.bin')).toBe(512 * KiB);
  });

  it('listings page only when maxResults is given (real GCS: at most 1,000 a page), and repeat every prefix on every page', async () => {
    const names = [...Array.from({ length: 5 }, (_, i) => `list/f${i}`), 'list/sub/a', 'list/sub/b'];
    await Promise.all(names.map((n) => storage.bucket(bucket).file(n).save('x', { resumable: false })));
    const base = `${server().endpoint}/storage/v1/b/${bucket}/o?prefix=list%2F&delimiter=%2F`;
    const unpaged = (await (await fetch(base)).json()) as { items: unknown[]; nextPageToken?: string };
    expect(unpaged.items).toHaveLength(5);
    expect(unpaged.nextPageToken).toBeUndefined();
    type Page = { items?: { name: string }[]; prefixes: string[]; nextPageToken?: string };
    const page1 = (await (await fetch(`${base}&maxResults=2`)).json()) as Page;
    expect(page1.nextPageToken, 'paged').toEqual(expect.any(String));
    const page2 = (await (await fetch(`${base}&maxResults=2&pageToken=${encodeURIComponent(page1.nextPageToken!)}`)).json()) as Page;
    const names1 = (page1.items ?? []).map((i) => i.name);
    const names2 = (page2.items ?? []).map((i) => i.name);
    expect(names1.length, 'page 1 has objects, at most 2').toBeGreaterThan(0);
    expect(Math.max(names1.length, names2.length), 'at most 2 objects a page').toBeLessThanOrEqual(2);
    expect(names2.filter((n) => names1.includes(n)), 'page 2 continues page 1').toEqual([]);
    expect(page1.prefixes).toEqual(['list/sub/']);
    expect(page2.prefixes).toEqual(['list/sub/']);
  });

  it('there is no objects.move endpoint (moveTo), so mv is rewrite + delete', async () => {
    await storage.bucket(bucket).file('move/a').save('a', { resumable: false });
    const response = await fetch(`${server().endpoint}/storage/v1/b/${bucket}/o/move%2Fa/moveTo/o/move%2Fb`, { method: 'POST' });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(await objectSize('move/b')).toBeUndefined();
  });

  it('no authentication at all: any token or none is accepted (401/403 mapping is tested against a fault server)', async () => {
    await storage.bucket(bucket).file('auth/a').save('a', { resumable: false });
    const response = await fetch(`${server().endpoint}/storage/v1/b/${bucket}/o/auth%2Fa`, { headers: { Authorization: 'Bearer not-a-token' } });
    expect(response.status).toBe(200);
  });
});
