import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { HttpOperationResponse, RequestPolicy, StorageSharedKeyCredential, WebResource } from '@azure/storage-blob';
import { readErrorDocument } from '@strata/fs-core';
import { XMLParser } from 'fast-xml-parser';
import { Agent, request, type Dispatcher } from 'undici';

/** The service version @azure/storage-blob 12.32.0 sends (its SERVICE_VERSION, not exported). */
export const SERVICE_VERSION = '2026-04-06';

/** What signs a request: a shared key (signed by the SDK's own policy) or a SAS token (already in the URL). */
export type RequestAuth = { sharedKey: StorageSharedKeyCredential } | { sasToken: string };

/** An answer whose body the caller reads: Get Blob's bytes and their announced length. */
export interface BlobBody {
  body: Readable;
  /** Undefined when the answer came without Content-Length (chunked by a proxy on the way). */
  length: number | undefined;
}

/** A policy that hands back the request it is given, so the SDK's signing policy signs without sending. */
const HAND_BACK: RequestPolicy = { sendRequest: async (signed) => signed as unknown as HttpOperationResponse };
const QUIET = { log() {}, shouldLog: () => false };
const xml = new XMLParser();

/** Just what the SDK's signing policy calls on a WebResource's headers. */
class SigningHeaders {
  constructor(readonly values: Record<string, string>) {}
  get(name: string): string | undefined {
    return this.values[name.toLowerCase()];
  }
  set(name: string, value: string | number): void {
    this.values[name.toLowerCase()] = String(value);
  }
  headersArray(): { name: string; value: string }[] {
    return Object.entries(this.values).map(([name, value]) => ({ name, value }));
  }
}

/**
 * Get Blob and Put Blob without the SDK's request pipeline, which costs most of a small blob's CPU
 * (2,000 reads of 4 KiB: 5.7 s of CPU through the SDK, 1.8 s this way; bench/README.md). Shared-key
 * requests are signed by the SDK's own StorageSharedKeyCredential policy; SAS requests carry the
 * token. They go through undici on a pool of our own, and error answers are thrown in the SDK's
 * RestError shape, so toFsError maps them as before.
 */
export class SignedBlobRequests {
  private readonly signer: { sendRequest(request: WebResource): Promise<unknown> } | undefined;
  private readonly query: string;
  /** Made on demand, so a filesystem used again after close() simply opens new sockets. */
  private pool: Agent | undefined;

  /** `serviceUrl` is the account's blob endpoint, without a query string. */
  constructor(
    private readonly serviceUrl: string,
    auth: RequestAuth,
  ) {
    this.signer = 'sharedKey' in auth ? auth.sharedKey.create(HAND_BACK, QUIET) : undefined;
    this.query = 'sasToken' in auth ? `?${auth.sasToken}` : '';
  }

  /** Bytes [start, start + count) of a blob (to its end without count), or a RestError-shaped error. */
  async get(container: string, blob: string, start: number, count: number | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<BlobBody> {
    const headers: Record<string, string> = { 'x-ms-version': SERVICE_VERSION };
    if (start > 0 || count !== undefined) headers['x-ms-range'] = `bytes=${start}-${count === undefined ? '' : start + count - 1}`;
    if (ifMatch !== undefined) headers['if-match'] = ifMatch;
    const answer = await this.send('GET', container, blob, headers, undefined, signal);
    const length = answer.headers['content-length'];
    return { body: answer.body, length: typeof length === 'string' ? Number(length) : undefined };
  }

  /**
   * One Put Blob of `data` as a block blob. Content-MD5 makes the service refuse a body that arrives
   * changed (the SDK sends none by default).
   */
  async put(container: string, blob: string, data: Uint8Array, create: boolean, metadata: Record<string, string> | undefined, signal: AbortSignal | undefined): Promise<void> {
    const headers: Record<string, string> = {
      'x-ms-version': SERVICE_VERSION,
      'x-ms-blob-type': 'BlockBlob',
      'content-length': String(data.byteLength),
      'content-md5': createHash('md5').update(data).digest('base64'),
    };
    if (create) headers['if-none-match'] = '*';
    for (const [name, value] of Object.entries(metadata ?? {})) headers[`x-ms-meta-${name}`] = value;
    const answer = await this.send('PUT', container, blob, headers, data, signal);
    await answer.body.dump();
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /** Signs and sends one request; a 2xx answer is returned, any other is thrown as the SDK would. */
  private async send(
    method: 'GET' | 'PUT',
    container: string,
    blob: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    const url = `${this.serviceUrl}/${encodeURIComponent(container)}/${escapeBlobName(blob)}${this.query}`;
    // The policy sets x-ms-date and authorization on the headers it is given.
    await this.signer?.sendRequest({ url, method, headers: new SigningHeaders(headers) } as unknown as WebResource);
    this.pool ??= new Agent({ keepAliveTimeout: 10_000 });
    let answer: Dispatcher.ResponseData;
    try {
      answer = await request(url, { method, headers, body, signal, dispatcher: this.pool });
    } catch (error) {
      // undici rejects with the signal's reason; the SDK, and so toFsError, calls that an AbortError.
      if (signal?.aborted) throw Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', cause: error });
      throw error;
    }
    if (answer.statusCode >= 200 && answer.statusCode < 300) return answer;
    throw await restShapedError(answer.statusCode, answer.headers, answer.body);
  }
}

/**
 * A blob name as the SDK puts it in the URL (ContainerClient.getBlobClient): each segment
 * percent-encoded, so both paths address the same blob; a test compares the two.
 */
export function escapeBlobName(blob: string): string {
  return blob
    .split('/')
    .map((segment) => encodeURIComponent(segment).replaceAll("'", '%27'))
    .join('/');
}

/** The error as @azure/storage-blob would throw it, where toFsError reads it. */
async function restShapedError(status: number, headers: Record<string, string | string[] | undefined>, body: Readable): Promise<Error> {
  const header = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
  const document = await readErrorDocument(body, Number(header('content-length')));
  const parsed = document ? (xml.parse(document) as { Error?: { Code?: unknown; Message?: unknown } } | undefined)?.Error : undefined;
  const code = header('x-ms-error-code') ?? (typeof parsed?.Code === 'string' ? parsed.Code : undefined);
  const message = typeof parsed?.Message === 'string' ? parsed.Message : (code ?? `HTTP ${status}`);
  return Object.assign(new Error(message), {
    name: 'RestError',
    statusCode: status,
    code,
    details: { errorCode: code },
    response: { status, headers: { get: header } },
  });
}
