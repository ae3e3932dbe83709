import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { requestBytes, requestStream, undiciTimeouts, type AnswerHeaders, type BodyContext, type RefusalShaper } from '@strata/fs-core';
import { getEndpointFromInstructions } from '@smithy/core/endpoints';
import { SignatureV4 } from '@smithy/signature-v4';
import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';

import { timeoutsOf } from './options.js';

/** Where one bucket's objects are and how requests to them are signed. */
interface BucketTarget {
  /** `scheme://host[:port]` */
  origin: string;
  hostname: string;
  port: number | undefined;
  protocol: string;
  /** Path of the bucket (path-style) or '' (virtual-hosted), without a trailing slash. */
  basePath: string;
  signer: SignatureV4;
}

/** A successful answer, shaped like the SDK's GetObject output where the adapter reads it. */
export interface SignedGetAnswer {
  Body: Readable;
  ContentLength: number | undefined;
}

const xml = new XMLParser();

/**
 * GetObject and single-request PutObject without the SDK's middleware stack, which costs most of a
 * small object's CPU (2,000 reads and writes of 4 KiB in the bench: 2.7 and 3.3 ms per request
 * through the SDK, 0.8 and 1.5 ms this way; bench/README.md). The URL comes from the SDK's own endpoint
 * rules and the signature from its SigV4 signer, credential chain and hash, so addressing and auth
 * stay the SDK's; the request goes through undici on a pool of our own (whole reads and writes with
 * fs-core's requestBytes, streamed reads with undici's `request`). Error answers are thrown in the
 * SDK's error shape, for mapS3Error. The pool has the client's read and connect timeouts (options.ts),
 * as undici's headers and body timeouts: a server that goes quiet fails the try with
 * UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT, which fs-core's RetryPolicy reports as TimeoutError.
 */
export class SignedRequests {
  private readonly targets = new Map<string, Promise<BucketTarget | undefined>>();
  /** Made on demand, so a filesystem used again after close() simply opens new sockets. */
  private pool: Agent | undefined;
  private checksumSetting: Promise<string | undefined> | undefined;

  constructor(private readonly client: S3Client) {}

  /**
   * The answer as a stream (for readStream), or undefined when the bucket needs what only the SDK
   * does (S3 Express sessions).
   */
  async get(bucket: string, key: string, range: string | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined): Promise<SignedGetAnswer | undefined> {
    const target = await this.target(bucket);
    if (!target) return undefined;
    const { url, headers, sentAt } = await this.sign(target, 'GET', key, getHeaders(range, ifMatch));
    const answer = await requestStream(() => request(url, { method: 'GET', headers, signal, dispatcher: this.dispatcher() }), signal, this.refuse(sentAt));
    const length = answer.headers['content-length'];
    return { Body: answer.body, ContentLength: typeof length === 'string' ? Number(length) : undefined };
  }

  /** The body's bytes, or undefined when the bucket needs the SDK. `where` names the read in errors. */
  async getBytes(bucket: string, key: string, range: string | undefined, ifMatch: string | undefined, signal: AbortSignal | undefined, where: BodyContext): Promise<Uint8Array | undefined> {
    const target = await this.target(bucket);
    if (!target) return undefined;
    return this.sendForBytes(target, 'GET', key, getHeaders(range, ifMatch), undefined, signal, where);
  }

  /**
   * One PutObject of `body`; false when the bucket needs the SDK. The payload's SHA-256 is signed,
   * so the server refuses a body that arrives changed, and sent again as the object's checksum,
   * as the SDK sends its CRC32 (Object Lock buckets require one), unless the client is configured
   * with `requestChecksumCalculation: 'WHEN_REQUIRED'` (for servers that refuse checksum headers).
   */
  async put(bucket: string, key: string, body: Uint8Array, ifNoneMatch: string | undefined, signal: AbortSignal | undefined, where: BodyContext): Promise<boolean> {
    const target = await this.target(bucket);
    if (!target) return false;
    const digest = createHash('sha256').update(body).digest();
    const headers: Record<string, string> = {
      'content-length': String(body.byteLength),
      'x-amz-content-sha256': digest.toString('hex'),
    };
    if ((await this.checksumCalculation()) !== 'WHEN_REQUIRED') headers['x-amz-checksum-sha256'] = digest.toString('base64');
    if (ifNoneMatch !== undefined) headers['if-none-match'] = ifNoneMatch;
    await this.sendForBytes(target, 'PUT', key, headers, body, signal, where);
    return true;
  }

  /** Signs and sends one request whose whole answer is read; a 2xx body is returned, any other answer is thrown as the SDK would. */
  private async sendForBytes(
    target: BucketTarget,
    method: 'GET' | 'PUT',
    key: string,
    headers: Record<string, string>,
    body: Uint8Array | undefined,
    signal: AbortSignal | undefined,
    where: BodyContext,
  ): Promise<Buffer> {
    const signed = await this.sign(target, method, key, headers);
    const request = { origin: target.origin, path: signed.path, method, headers: signed.headers, body, signal };
    return (await requestBytes(this.dispatcher(), request, where, this.refuse(signed.sentAt))).body;
  }

  /** The request's URL path and signed headers, with the clock offset the SDK keeps (learned from a server that said RequestTimeTooSkewed). */
  private async sign(target: BucketTarget, method: 'GET' | 'PUT', key: string, headers: Record<string, string>) {
    const path = `${target.basePath}/${key.split('/').map(encodeSegment).join('/')}`;
    headers.host = target.port === undefined ? target.hostname : `${target.hostname}:${target.port}`;
    const sentAt = Date.now();
    const signingDate = new Date(sentAt + (this.clock.systemClockOffset ?? 0));
    const signed = await target.signer.sign({ method, protocol: target.protocol, hostname: target.hostname, port: target.port, path, query: {}, headers }, { signingDate });
    return { path, url: `${target.origin}${path}`, headers: signed.headers, sentAt };
  }

  /** Error answers to a request sent at `sentAt`, as the SDK would throw them; their Date teaches the clock offset first. */
  private refuse(sentAt: number): RefusalShaper {
    return (status, headers, document) => {
      learnClockOffset(this.clock, headers, sentAt);
      return sdkShapedError(status, headers, document);
    };
  }

  private get clock(): { systemClockOffset?: number } {
    return this.client.config;
  }

  private dispatcher(): Agent {
    // undici's own defaults would be 300 s for headers and body.
    this.pool ??= new Agent({ keepAliveTimeout: 10_000, ...undiciTimeouts(timeoutsOf(this.client)) });
    return this.pool;
  }

  /** The client's `requestChecksumCalculation` setting, resolved once. */
  private checksumCalculation(): Promise<string | undefined> {
    const setting = (this.client.config as { requestChecksumCalculation?: () => Promise<string> }).requestChecksumCalculation;
    this.checksumSetting ??= Promise.resolve(setting?.()).catch(() => undefined);
    return this.checksumSetting;
  }

  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.destroy();
  }

  private target(bucket: string): Promise<BucketTarget | undefined> {
    let found = this.targets.get(bucket);
    if (!found) {
      found = this.resolve(bucket);
      // A failed resolution (a region provider that threw) is not remembered.
      found.catch(() => this.targets.delete(bucket));
      this.targets.set(bucket, found);
    }
    return found;
  }

  private async resolve(bucket: string): Promise<BucketTarget | undefined> {
    const config = this.client.config;
    const endpoint = await getEndpointFromInstructions({ Bucket: bucket, Key: 'k' }, GetObjectCommand, config as never);
    const scheme = (endpoint.properties?.authSchemes as { name?: string; signingName?: string; signingRegion?: string }[] | undefined)?.[0];
    if (scheme?.name !== 'sigv4' || !scheme.signingName || !scheme.signingRegion) return undefined;
    const url = endpoint.url;
    return {
      origin: url.origin,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      protocol: url.protocol,
      basePath: url.pathname.replace(/\/$/, ''),
      signer: new SignatureV4({
        credentials: config.credentials,
        region: scheme.signingRegion,
        service: scheme.signingName,
        sha256: config.sha256,
        // S3 object paths are signed as sent, not escaped a second time.
        uriEscapePath: false,
      }),
    };
  }
}

/** A key segment as the SDK puts it in the path: RFC 3986 unreserved characters stay, all else is escaped. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}


/**
 * What the SDK's signer does with an error answer: the server's Date header sets the clock offset,
 * so the retry of a RequestTimeTooSkewed request is signed with the server's time. Not when the
 * answer came from a cache (Age) or so late that its Date says little (15 minutes, as the SDK).
 */
function learnClockOffset(clock: { systemClockOffset?: number }, headers: AnswerHeaders, sentAt: number): void {
  const date = headers.date;
  if (typeof date !== 'string' || headers.age !== undefined) return;
  const serverTime = Date.parse(date);
  const now = Date.now();
  if (Number.isNaN(serverTime) || now - sentAt > 900_000) return;
  clock.systemClockOffset = serverTime - now;
}
/** The error S3 answered, as the SDK would throw it: `name` from the XML `Code`, the status in `$metadata`. */
function sdkShapedError(status: number, headers: AnswerHeaders, document: string | undefined): Error {
  let code: string | undefined;
  let message: string | undefined;
  if (document !== undefined) {
    const parsed = (xml.parse(document) as { Error?: { Code?: unknown; Message?: unknown } } | undefined)?.Error;
    if (typeof parsed?.Code === 'string') code = parsed.Code;
    if (typeof parsed?.Message === 'string') message = parsed.Message;
  }
  const flat: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  const requestId = flat['x-amz-request-id'];
  return Object.assign(new Error(message ?? `HTTP ${status}`), {
    name: code ?? 'Unknown',
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, requestId },
    $response: { headers: flat },
  });
}

function getHeaders(range: string | undefined, ifMatch: string | undefined): Record<string, string> {
  const headers: Record<string, string> = { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
  if (range !== undefined) headers.range = range;
  if (ifMatch !== undefined) headers['if-match'] = ifMatch;
  return headers;
}
