import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { HttpOperationResponse, RequestPolicy, StorageSharedKeyCredential, WebResource } from '@azure/storage-blob';
import { requestBytes, requestStream, resolveRequestTimeouts, undiciTimeouts, type AnswerHeaders, type BodyContext, type RequestTimeouts } from '@strata/fs-core';
import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';

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
 * token. They go through undici on a pool of our own (whole reads and writes with fs-core's
 * requestBytes, streamed reads with undici's `request`), and error answers are thrown in the SDK's
 * RestError shape, so toFsError maps them as before. The pool has the filesystem's read and connect
 * timeouts as undici's headers and body timeouts (undici's own, 300 s, would let a server that went
 * quiet hold a try for five minutes); fs-core's RetryPolicy reports them as TimeoutError.
 */
export class SignedBlobRequests {
  private readonly signer: { sendRequest(request: WebResource): Promise<unknown> } | undefined;
  private readonly query: string;
  /** The endpoint's `scheme://host[:port]` and its path (the account's, for Azurite), without a trailing slash. */
  private readonly origin: string;
  private readonly basePath: string;
  /** Made on demand, so a filesystem used again after close() simply opens new sockets. */
  private pool: Agent | undefined;

  /** `serviceUrl` is the account's blob endpoint, without a query string. */
  constructor(
    serviceUrl: string,
    auth: RequestAuth,
    private readonly timeouts: RequestTimeouts = resolveRequestTimeouts({}),
  ) {
    const endpoint = new URL(serviceUrl);
    this.origin = endpoint.origin;
    this.basePath = endpoint.pathname.replace(/\/$/, '');
    this.signer = 'sharedKey' in auth ? auth.sharedKey.create(HAND_BACK, QUIET) : undefined;
    this.query = 'sasToken' in auth ? `?${auth.sasToken}` : '';
  }

  /** Bytes [start, start + count) of a blob (to its end without count) as a stream, or a RestError-shaped error. */
  async get(container: string, blob: string, start: number, count: number | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<BlobBody> {
    const { url, headers } = await this.sign('GET', container, blob, getHeaders(start, count, ifMatch));
    const answer = await requestStream(() => request(url, { method: 'GET', headers, signal, dispatcher: this.dispatcher() }), signal, restShapedError);
    const length = answer.headers['content-length'];
    return { body: answer.body, length: typeof length === 'string' ? Number(length) : undefined };
  }

  /** The same bytes, read whole. `where` names the read in errors. */
  async getBytes(container: string, blob: string, start: number, count: number | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined, where: BodyContext): Promise<Uint8Array> {
    return this.sendForBytes('GET', container, blob, getHeaders(start, count, ifMatch), undefined, signal, where);
  }

  /**
   * One Put Blob of `data` as a block blob. Content-MD5 makes the service refuse a body that arrives
   * changed (the SDK sends none by default).
   */
  async put(container: string, blob: string, data: Uint8Array, create: boolean, metadata: Record<string, string> | undefined, signal: AbortSignal | undefined, where: BodyContext): Promise<void> {
    const headers: Record<string, string> = {
      'x-ms-version': SERVICE_VERSION,
      'x-ms-blob-type': 'BlockBlob',
      'content-length': String(data.byteLength),
      'content-md5': createHash('md5').update(data).digest('base64'),
    };
    if (create) headers['if-none-match'] = '*';
    for (const [name, value] of Object.entries(metadata ?? {})) headers[`x-ms-meta-${name}`] = value;
    await this.sendForBytes('PUT', container, blob, headers, data, signal, where);
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  /** Signs and sends one request whose whole answer is read; a 2xx body is returned, any other answer is thrown as the SDK would. */
  private async sendForBytes(
    method: 'GET' | 'PUT',
    container: string,
    blob: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    where: BodyContext,
  ): Promise<Buffer> {
    const signed = await this.sign(method, container, blob, headers);
    const request = { origin: this.origin, path: signed.path, method, headers: signed.headers, body, signal };
    return (await requestBytes(this.dispatcher(), request, where, restShapedError)).body;
  }

  /** The request's URL and its headers, signed: the policy sets x-ms-date and authorization on the headers it is given. */
  private async sign(method: 'GET' | 'PUT', container: string, blob: string, headers: Record<string, string>) {
    const path = `${this.basePath}/${encodeURIComponent(container)}/${escapeBlobName(blob)}${this.query}`;
    const url = `${this.origin}${path}`;
    await this.signer?.sendRequest({ url, method, headers: new SigningHeaders(headers) } as unknown as WebResource);
    return { url, path, headers };
  }

  private dispatcher(): Agent {
    this.pool ??= new Agent({ keepAliveTimeout: 10_000, ...undiciTimeouts(this.timeouts) });
    return this.pool;
  }
}

function getHeaders(start: number, count: number | undefined, ifMatch: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'x-ms-version': SERVICE_VERSION };
  if (start > 0 || count !== undefined) headers['x-ms-range'] = `bytes=${start}-${count === undefined ? '' : start + count - 1}`;
  if (ifMatch !== undefined) headers['if-match'] = ifMatch;
  return headers;
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
function restShapedError(status: number, headers: AnswerHeaders, document: string | undefined): Error {
  const header = (name: string): string | undefined => {
    const value = headers[name.toLowerCase()];
    return Array.isArray(value) ? value.join(', ') : value;
  };
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
