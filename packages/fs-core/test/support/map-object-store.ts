import { setImmediate as tick } from 'node:timers/promises';

import { AlreadyExistsError, ConflictError, NotFoundError, directoryMarker, splitBucketPath, throwIfAborted } from '../../src/index.js';
import type { AdapterListOptions, AdapterReadOptions, AdapterWriter, CallOptions, Capabilities, FileInfo, StorageAdapter, WriteMode } from '../../src/index.js';

interface StoredObject {
  data: Uint8Array;
  etag: string;
  mtime: Date;
}

/**
 * A test double with object-store semantics (flat keys, virtual prefixes, no empty directories but
 * `dir/` marker keys other tools write, conditional create at commit). It lets the conformance suite be checked against the object-store
 * code paths of the facade before the S3, GCS and Azure backends exist. Not a product backend.
 */
export class MapObjectStoreAdapter implements StorageAdapter {
  readonly protocol = 'mapstore';
  readonly capabilities: Capabilities = {
    atomicCommit: true,
    conditionalCreate: true,
    rangeRead: true,
    emptyDirectories: false,
    sign: false,
    serverSideCopy: false,
    atomicMove: false,
  };
  private readonly objects = new Map<string, StoredObject>();
  private versions = 0;

  constructor(private readonly buckets: Set<string>) {}

  async head(path: string, options: CallOptions): Promise<FileInfo> {
    await this.roundTrip(path, options);
    const { bucket, key } = this.split(path);
    if (key === '') return { name: bucket, type: 'directory', size: 0 };
    const object = this.objects.get(path);
    if (!object) throw new NotFoundError({ path, protocol: this.protocol });
    return { name: path, type: 'file', size: object.data.length, etag: object.etag, mtime: object.mtime };
  }

  async *list(path: string, options: AdapterListOptions): AsyncIterable<FileInfo> {
    await this.roundTrip(path, options);
    const { bucket, key } = this.split(path);
    const prefix = key === '' ? `${bucket}/` : `${path}/`;
    const seenDirs = new Set<string>();
    for (const name of [...this.objects.keys()].sort()) {
      if (!name.startsWith(prefix)) continue;
      const rest = name.slice(prefix.length);
      const slash = rest.indexOf('/');
      const object = this.objects.get(name)!;
      if (!options.recursive && slash !== -1) {
        // A common prefix, as stored: `w//x` below `w` gives `w/`.
        if (!seenDirs.has(rest.slice(0, slash))) {
          seenDirs.add(rest.slice(0, slash));
          yield { name: prefix + rest.slice(0, slash), type: 'directory', size: 0 };
        }
      } else if (name.endsWith('/')) {
        yield directoryMarker(name, object.mtime);
      } else {
        yield { name, type: 'file', size: object.data.length, etag: object.etag, mtime: object.mtime };
      }
    }
  }

  /** Stores an object at `path` exactly as given (`dir/` markers, `a//b`), as another tool would. */
  async putRaw(path: string, data: Uint8Array): Promise<void> {
    await this.roundTrip(path, {});
    this.objects.set(path, { data: data.slice(), etag: `"${++this.versions}"`, mtime: new Date() });
  }

  async read(path: string, start: number, end: number | undefined, options: AdapterReadOptions): Promise<Uint8Array> {
    await this.roundTrip(path, options);
    const object = this.objects.get(path);
    if (!object) throw new NotFoundError({ path, protocol: this.protocol });
    if (options.etag !== undefined && options.etag !== object.etag) throw new ConflictError({ path, protocol: this.protocol });
    return object.data.slice(Math.min(start, object.data.length), Math.min(end ?? object.data.length, object.data.length));
  }

  async createWriter(path: string, mode: WriteMode, options: CallOptions): Promise<AdapterWriter> {
    await this.roundTrip(path, options);
    const chunks: Uint8Array[] = [];
    return {
      write: async (chunk, signal) => {
        throwIfAborted(signal, { path, protocol: this.protocol });
        chunks.push(chunk.slice());
      },
      commit: async (signal) => {
        await this.roundTrip(path, { signal });
        // Decided at the "server", at commit, like If-None-Match: *.
        if (mode === 'create' && this.objects.has(path)) throw new AlreadyExistsError({ path, protocol: this.protocol });
        const data = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
        let offset = 0;
        for (const chunk of chunks) {
          data.set(chunk, offset);
          offset += chunk.length;
        }
        this.objects.set(path, { data, etag: `"${++this.versions}"`, mtime: new Date() });
      },
      abort: async () => {
        chunks.length = 0;
      },
    };
  }

  async remove(path: string, options: CallOptions): Promise<void> {
    await this.roundTrip(path, options);
    if (!this.objects.delete(path)) throw new NotFoundError({ path, protocol: this.protocol });
  }

  private split(path: string): { bucket: string; key: string } {
    const parts = splitBucketPath(path, this.protocol);
    if (!this.buckets.has(parts.bucket)) throw new NotFoundError({ path: parts.bucket, protocol: this.protocol }, `Bucket not found: ${parts.bucket}`);
    return parts;
  }

  /** Yields to the event loop like a network call would, so concurrent operations interleave. */
  private async roundTrip(path: string, options: CallOptions): Promise<void> {
    throwIfAborted(options.signal, { path, protocol: this.protocol });
    await tick();
    this.split(path);
  }
}
