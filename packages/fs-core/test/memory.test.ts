import { Volume } from 'memfs';
import { describe, expect, it, vi } from 'vitest';

import { AlreadyExistsError, ConflictError, FsError, InvalidPathError, IsADirectoryError, NotADirectoryError, filesystem, fromAdapter, urlToFs } from '../src/index.js';
import { MemoryAdapter } from '../src/backends/memory.js';

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const unique = () => `/memory-test-${process.pid}-${Math.random().toString(36).slice(2)}`;

describe('memory store sharing', () => {
  it('every default memory filesystem shares one store, as in fsspec', async () => {
    const dir = unique();
    const writer = await filesystem('memory');
    const reader = await filesystem('memory');
    expect(reader).not.toBe(writer);
    await writer.pipe(`${dir}/shared.txt`, 'seen by all');
    expect(text(await reader.cat(`${dir}/shared.txt`))).toBe('seen by all');
    await reader.rm(dir, { recursive: true });
    expect(await writer.exists(`${dir}/shared.txt`)).toBe(false);
  });

  it('memory:// URLs resolved separately see the same files', async () => {
    const dir = unique();
    const first = await urlToFs(`memory://${dir}/ckpt/step-1.bin`);
    await first.fs.pipe(first.path, new Uint8Array([1, 2, 3]));
    const second = await urlToFs(`memory://${dir}/ckpt/step-1.bin`);
    expect(second.path).toBe(`${dir}/ckpt/step-1.bin`);
    expect([...(await second.fs.cat(second.path))]).toEqual([1, 2, 3]);
    await second.fs.rm(dir, { recursive: true });
  });

  it("{ store: 'private' } isolates: neither the shared store nor another private store sees its files", async () => {
    const dir = unique();
    const shared = await filesystem('memory');
    const one = await filesystem('memory', { store: 'private' });
    const two = await filesystem('memory', { store: 'private' });
    await one.pipe(`${dir}/mine.txt`, 'one');
    await shared.pipe(`${dir}/public.txt`, 'shared');
    expect(await two.exists(`${dir}/mine.txt`)).toBe(false);
    expect(await shared.exists(`${dir}/mine.txt`)).toBe(false);
    expect(await one.exists(`${dir}/public.txt`)).toBe(false);
    expect(await one.find('/')).toEqual([`${dir}/mine.txt`]);
    await shared.rm(dir, { recursive: true });
  });

  it('{ volume } uses the given memfs volume as the store', async () => {
    const volume = new Volume();
    volume.mkdirSync('/pre', { recursive: true });
    volume.writeFileSync('/pre/existing.txt', 'made with memfs');
    const fs = await filesystem('memory', { volume });
    expect(text(await fs.cat('/pre/existing.txt'))).toBe('made with memfs');
    await fs.pipe('/pre/new.txt', 'made with strata');
    expect(volume.readFileSync('/pre/new.txt', 'utf8')).toBe('made with strata');
    const again = await filesystem('memory', { volume });
    expect(text(await again.cat('/pre/new.txt'))).toBe('made with strata');
  });

  it('an unknown store option is an FsError, not a silent shared store', () => {
    expect(() => new MemoryAdapter({ store: 'bogus' as never })).toThrow(FsError);
  });
});

describe('memory versions', () => {
  it('the etag changes on every commit, even with identical bytes', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/v.txt', 'same');
    const first = (await fs.info('/v.txt')).etag;
    await fs.pipe('/v.txt', 'same');
    const second = (await fs.info('/v.txt')).etag;
    expect(first).toBeDefined();
    expect(second).not.toBe(first);
    await fs.cp('/v.txt', '/copy.txt');
    expect((await fs.info('/copy.txt')).etag).not.toBe(second);
  });

  it('a pinned read handle notices a same-size replacement (memfs reuses inode numbers)', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/pinned.txt', 'AAAA');
    const handle = await fs.open('/pinned.txt', 'rb');
    await fs.rm('/pinned.txt');
    await fs.pipe('/pinned.txt', 'BBBB');
    await expect(handle.read()).rejects.toBeInstanceOf(ConflictError);
  });

  it('nothing reaches the volume before commit', async () => {
    const adapter = new MemoryAdapter({ store: 'private' });
    const writer = await adapter.createWriter('/staged/file.txt', 'overwrite', {});
    await writer.write(new TextEncoder().encode('pending'));
    expect(adapter.volume.existsSync('/staged')).toBe(false);
    await writer.commit();
    expect(adapter.volume.readFileSync('/staged/file.txt', 'utf8')).toBe('pending');
  });
});

describe('memory moves', () => {
  it('mv over an existing file leaves the directories removable (memfs rename keeps a stale child count)', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/x/a.txt', 'new');
    await fs.pipe('/x/b/target.txt', 'old');
    await fs.mv('/x/a.txt', '/x/b/target.txt');
    expect(text(await fs.cat('/x/b/target.txt'))).toBe('new');
    await fs.rm('/x', { recursive: true });
    expect(await fs.exists('/x')).toBe(false);
  });

  it('moveFile follows rename(2): no file over a directory, no directory into itself', async () => {
    const adapter = new MemoryAdapter({ store: 'private' });
    await adapter.makeDir('/d', { parents: true });
    const writer = await adapter.createWriter('/file', 'overwrite', {});
    await writer.commit();
    await expect(adapter.moveFile('/file', '/d', {})).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(adapter.moveFile('/d', '/d/sub', {})).rejects.toBeInstanceOf(InvalidPathError);
    await expect(adapter.moveFile('/d', '/file', {})).rejects.toBeInstanceOf(NotADirectoryError);
    expect((await adapter.head('/file', {})).type).toBe('file');
    expect((await adapter.head('/d', {})).type).toBe('directory');
  });
});

describe('memory glob', () => {
  it('backslash, pipe and regex characters in names are literal, as in fsspec', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    for (const p of ['/pipe|x/f.txt', '/pipex/f.txt', '/bs\\x/f.txt', '/bsx/f.txt', '/r/a|b', '/r/a', '/r/b', '/r/x.txt', '/r/xytxt', '/r/$1^', '/r/11']) await fs.pipe(p, 'x');
    expect(await fs.glob('/pipe|x/*')).toEqual(['/pipe|x/f.txt']);
    expect(await fs.glob('/bs\\x/*')).toEqual(['/bs\\x/f.txt']);
    expect(await fs.glob('/r/a|*')).toEqual(['/r/a|b']);
    expect(await fs.glob('/r/x.*')).toEqual(['/r/x.txt']);
    expect(await fs.glob('/r/$1^*')).toEqual(['/r/$1^']);
    // An unclosed bracket is a literal character, as in fnmatch.
    await fs.pipe('/r/x[1', 'x');
    expect(await fs.glob('/r/x[1*')).toEqual(['/r/x[1']);
  });
});

describe('memory pipe and cat', () => {
  it('pipe writes in one step (no writer): parents on demand, directories and existing files refused, bytes copied', async () => {
    const adapter = new MemoryAdapter({ store: 'private' });
    const createWriter = vi.spyOn(adapter, 'createWriter');
    const fs = fromAdapter(adapter);
    const data = new TextEncoder().encode('deep');
    await fs.pipe('/p/q/r.txt', data);
    data.fill(0); // the caller's buffer is free once pipe resolves
    expect(text(await fs.cat('/p/q/r.txt'))).toBe('deep');
    await expect(fs.pipe('/p/q', 'x')).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(fs.pipe('/p/q', 'x', { mode: 'create' })).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(fs.pipe('/p/q/r.txt', 'x', { mode: 'create' })).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(fs.pipe('/p/q/r.txt/s.txt', 'x')).rejects.toBeInstanceOf(NotADirectoryError);
    await fs.pipe('/p/new.txt', 'new', { mode: 'create' });
    expect(text(await fs.cat('/p/q/r.txt'))).toBe('deep');
    expect(text(await fs.cat('/p/new.txt'))).toBe('new');
    expect(createWriter).not.toHaveBeenCalled();
  });

  it("'wb' over a directory fails at commit with IsADirectoryError; 'xb' fails at open", async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.mkdir('/dir');
    const handle = await fs.open('/dir', 'wb');
    await handle.write('x');
    await expect(handle.commit()).rejects.toBeInstanceOf(IsADirectoryError);
    await expect(fs.open('/dir', 'xb')).rejects.toBeInstanceOf(IsADirectoryError);
    expect(await fs.isDir('/dir')).toBe(true);
  });

  it('cat returns memory of its own: not a view into the store, nor a slice of a shared pool', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/small.bin', new Uint8Array([1, 2, 3]));
    const bytes = await fs.cat('/small.bin');
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(3);
    bytes[0] = 9;
    expect([...(await fs.cat('/small.bin'))]).toEqual([1, 2, 3]);
    expect([...(await fs.cat('/small.bin', { start: 1 }))]).toEqual([2, 3]);
    await fs.mkdir('/d');
    await expect(fs.cat('/d')).rejects.toBeInstanceOf(IsADirectoryError);
  });

  it("stores made here own their files as this process's user", async () => {
    const adapter = new MemoryAdapter({ store: 'private' });
    await fromAdapter(adapter).pipe('/owned.txt', 'x');
    const stats = adapter.volume.statSync('/owned.txt');
    expect(Number(stats.uid)).toBe(process.getuid?.() ?? 0);
    expect(Number(stats.gid)).toBe(process.getgid?.() ?? 0);
  });
});

describe('find withDirs at the root', () => {
  it('lists what is below the root but not the root itself (fsspec leaves out its root "" too)', async () => {
    const fs = await filesystem('memory', { store: 'private' });
    await fs.pipe('/d/x.txt', 'x');
    expect(await fs.find('/', { withDirs: true })).toEqual(['/d', '/d/x.txt']);
    expect(await fs.find('/d', { withDirs: true })).toEqual(['/d', '/d/x.txt']);
  });
});
