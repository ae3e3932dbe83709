import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

import { errorBody, operationOf, serverErrorCode, type Dialect, type RequestFacts } from './operations.js';

/**
 * What the proxy does to one request:
 * - `status`: answers with `status` (500, 503...) in the service's own error format, optionally
 *   with `Retry-After`; the request never reaches the server.
 * - `slowDown`: S3's throttling answer (503, code SlowDown).
 * - `resetRequest`: resets the connection after the request headers and the first piece of its
 *   body; the server never sees the request.
 * - `resetResponse`: forwards the request (the server carries it out), sends the response headers
 *   and part of the body, then resets the connection.
 * - `dropResponse`: forwards the request and lets the server finish it, then resets the connection
 *   before a single byte of the answer reaches the client (a lost answer).
 * - `stall`: holds the request without answering, until the client gives up or `ms` pass (then reset).
 * - `truncateBody`: forwards; promises the full Content-Length but sends only `keep` of the body
 *   (a fraction, default 0.5), then closes the connection.
 */
export type Fault =
  | { kind: 'status'; status: number; retryAfterSeconds?: number | undefined; code?: string | undefined }
  | { kind: 'slowDown'; retryAfterSeconds?: number | undefined }
  | { kind: 'resetRequest' }
  | { kind: 'resetResponse' }
  | { kind: 'dropResponse' }
  | { kind: 'stall'; ms?: number | undefined }
  | { kind: 'truncateBody'; keep?: number | undefined };

/** Short names for the common faults. */
export type FaultName =
  | '500'
  | '503'
  | '503-retry-after'
  | 'slow-down'
  | 'reset-request'
  | 'reset-response'
  | 'drop-response'
  | 'stall'
  | 'truncate-body';

export type FaultSpec = Fault | FaultName;

export const ALL_FAULTS: readonly FaultName[] = [
  '500',
  '503',
  '503-retry-after',
  'slow-down',
  'reset-request',
  'reset-response',
  'drop-response',
  'stall',
  'truncate-body',
];

export function faultOf(spec: FaultSpec): Fault {
  if (typeof spec !== 'string') return spec;
  switch (spec) {
    case '500':
      return { kind: 'status', status: 500 };
    case '503':
      return { kind: 'status', status: 503 };
    case '503-retry-after':
      return { kind: 'status', status: 503, retryAfterSeconds: 1 };
    case 'slow-down':
      return { kind: 'slowDown' };
    case 'reset-request':
      return { kind: 'resetRequest' };
    case 'reset-response':
      return { kind: 'resetResponse' };
    case 'drop-response':
      return { kind: 'dropResponse' };
    case 'stall':
      return { kind: 'stall' };
    case 'truncate-body':
      return { kind: 'truncateBody' };
  }
}

/** A label per fault for the counters: `500`, `503+retry-after`, `slowDown`, `truncateBody`... */
export function faultLabel(fault: Fault): string {
  if (fault.kind === 'status') return `${fault.status}${fault.retryAfterSeconds !== undefined ? '+retry-after' : ''}`;
  return fault.kind;
}

export interface RequestInfo extends RequestFacts {
  /** Operation name from the proxy's dialect (`UploadPart`, `CommitBlockList`, `ResumableChunk`...). */
  operation: string;
  /** Sequence number of this request at the proxy, from 1. */
  seq: number;
}

/**
 * When a fault fires. All given conditions must match; among the matching requests, `after`
 * skips the first ones, then `every` picks every Nth or `rate` picks at random (seeded), and
 * `times` caps the injections. Rules are tried in order; the first that fires wins.
 */
export interface FaultRule {
  name?: string | undefined;
  method?: string | readonly string[] | undefined;
  /** Operation name(s) of the proxy's dialect, e.g. `'UploadPart'`. */
  operation?: string | readonly string[] | undefined;
  /** Tested against the request path (percent-encoded, without the query). */
  path?: RegExp | undefined;
  /** Query parameters that must be present (names), or a pattern over the raw query string. */
  query?: string | readonly string[] | RegExp | undefined;
  where?: ((request: RequestInfo) => boolean) | undefined;
  after?: number | undefined;
  every?: number | undefined;
  rate?: number | undefined;
  times?: number | undefined;
  /** The fault, or several to pick from at random (seeded). */
  fault: FaultSpec | readonly FaultSpec[];
}

export interface InjectedFault {
  seq: number;
  method: string;
  path: string;
  operation: string;
  fault: string;
  rule: string;
}

export interface FaultProxyStats {
  requests: number;
  /** Requests passed on to the server (including those whose answer was then damaged). */
  forwarded: number;
  injected: number;
  /** Injected faults by label (`500`, `503+retry-after`, `slowDown`, `resetRequest`...). */
  faults: Record<string, number>;
  /** Injected faults by rule name. */
  byRule: Record<string, number>;
  /** Injected faults by operation. */
  byOperation: Record<string, number>;
  /** Every request by operation, faulted or not. */
  operations: Record<string, number>;
  /** Failures talking to the server that were not injected (should stay 0). */
  upstreamErrors: number;
}

export interface FaultProxyOptions {
  /** The server to forward to; must be a loopback http origin. */
  target: string;
  dialect?: Dialect | undefined;
  rules?: readonly FaultRule[] | undefined;
  /** Seed for `rate` rules and for picking among several faults (default 1). */
  seed?: number | undefined;
  /** Default for `stall` faults without `ms` (default 120 s): then the connection is reset. */
  stallMs?: number | undefined;
  /** Keeps the last this many injections in `log` (default 10 000). */
  logLimit?: number | undefined;
  /**
   * GCS dialect only: answer resumable-upload status queries (`PUT` with `Content-Range: bytes *\/*`)
   * the way Google Cloud Storage documents them, from what the server said about the session,
   * instead of passing them on. fake-gcs-server (v1.56) finalises the object on such a query,
   * making a half-uploaded object visible, which real GCS never does. Default true for `gcs`.
   */
  emulateGcsStatusQueries?: boolean | undefined;
}

/** What the server last said about one resumable session, as real GCS would report it. */
interface GcsSession {
  /** `Range` of the last 308 answer (bytes persisted), if any. */
  range?: string | undefined;
  /** The answer that finalised the upload: a status query returns it again. */
  final?: { status: number; contentType: string; body: Buffer } | undefined;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'expect']);

function isLoopbackHost(hostname: string): boolean {
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1';
}

function asList<T>(value: T | readonly T[] | undefined): readonly T[] | undefined {
  if (value === undefined) return undefined;
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

function forwardHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Resolves once the socket has flushed what was written to it. */
function flushed(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.writableLength === 0) return resolve();
    socket.write('', () => resolve());
  });
}

function reset(socket: Socket | null | undefined): void {
  if (!socket || socket.destroyed) return;
  // A TCP RST, like a crashed peer or a middlebox dropping the flow.
  if (typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy();
  else socket.destroy();
}

function isGcsStatusQuery(request: RequestInfo): boolean {
  const range = request.headers['content-range'];
  return request.method === 'PUT' && request.query.has('upload_id') && typeof range === 'string' && /^bytes \*\/\*$/.test(range.trim());
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.on('aborted', () => reject(new Error('upstream response aborted')));
  });
}

function drain(request: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (request.readableEnded) return resolve();
    request.on('end', resolve);
    request.on('close', resolve);
    request.on('error', () => resolve());
    request.resume();
  });
}

/**
 * An HTTP proxy for tests that damages chosen requests. Point a client's endpoint at `url`; every
 * request goes on to `target` unless a rule fires. Loopback only, plain node:http.
 */
export class FaultProxy {
  readonly dialect: Dialect;
  readonly target: URL;
  readonly log: InjectedFault[] = [];
  stats: FaultProxyStats = FaultProxy.emptyStats();
  private rules: FaultRule[];
  private readonly counters = new Map<FaultRule, { matched: number; injected: number }>();
  private readonly rng;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private readonly stalled = new Set<{ timer: NodeJS.Timeout; socket: Socket }>();
  private readonly stallMs: number;
  private readonly logLimit: number;
  private seq = 0;
  private origin = '';
  private readonly emulateGcsStatus: boolean;
  private readonly gcsSessions = new Map<string, GcsSession>();

  private constructor(
    private readonly server: Server,
    options: FaultProxyOptions,
  ) {
    this.target = new URL(options.target);
    this.dialect = options.dialect ?? 'generic';
    this.rules = [...(options.rules ?? [])];
    this.rng = xoroshiro128plus(options.seed ?? 1);
    this.stallMs = options.stallMs ?? 120_000;
    this.logLimit = options.logLimit ?? 10_000;
    this.emulateGcsStatus = this.dialect === 'gcs' && (options.emulateGcsStatusQueries ?? true);
  }

  static emptyStats(): FaultProxyStats {
    return { requests: 0, forwarded: 0, injected: 0, faults: {}, byRule: {}, byOperation: {}, operations: {}, upstreamErrors: 0 };
  }

  static async start(options: FaultProxyOptions): Promise<FaultProxy> {
    const target = new URL(options.target);
    if (target.protocol !== 'http:' || !isLoopbackHost(target.hostname)) {
      throw new Error(`FaultProxy forwards to loopback http servers only, not ${target.origin}`);
    }
    const server = createServer({ keepAlive: true });
    const proxy = new FaultProxy(server, options);
    server.on('request', (req, res) => proxy.handle(req, res));
    server.on('clientError', (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    proxy.origin = `http://127.0.0.1:${port}`;
    return proxy;
  }

  /** `http://127.0.0.1:PORT`, the endpoint to give the client. */
  get url(): string {
    return this.origin;
  }

  setRules(rules: readonly FaultRule[]): void {
    this.rules = [...rules];
    this.counters.clear();
  }

  addRule(rule: FaultRule): void {
    this.rules.push(rule);
  }

  clearRules(): void {
    this.setRules([]);
  }

  /** Zeroes the counters and the log (rules and their own counts stay). */
  resetStats(): FaultProxyStats {
    const previous = this.stats;
    this.stats = FaultProxy.emptyStats();
    this.log.length = 0;
    return previous;
  }

  /** Injections so far by a rule (by its object or name). */
  injectedBy(rule: FaultRule | string): number {
    if (typeof rule === 'string') return this.stats.byRule[rule] ?? 0;
    return this.counters.get(rule)?.injected ?? 0;
  }

  async close(): Promise<void> {
    for (const stall of this.stalled) {
      clearTimeout(stall.timer);
      stall.socket.destroy();
    }
    this.stalled.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    this.agent.destroy();
  }

  /* ------------------------------------------------------------------ */

  private random(): number {
    return uniformFloat64(this.rng);
  }

  private choose(request: RequestInfo): { fault: Fault; rule: string } | undefined {
    for (const [index, rule] of this.rules.entries()) {
      if (!this.matches(rule, request)) continue;
      let counter = this.counters.get(rule);
      if (!counter) this.counters.set(rule, (counter = { matched: 0, injected: 0 }));
      counter.matched += 1;
      if (rule.after !== undefined && counter.matched <= rule.after) continue;
      if (rule.times !== undefined && counter.injected >= rule.times) continue;
      const n = counter.matched - (rule.after ?? 0);
      if (rule.every !== undefined && n % rule.every !== 0) continue;
      if (rule.rate !== undefined && !(this.random() < rule.rate)) continue;
      const options = asList(rule.fault)!;
      const spec = options.length === 1 ? options[0]! : options[Math.floor(this.random() * options.length)]!;
      counter.injected += 1;
      return { fault: faultOf(spec), rule: rule.name ?? `rule ${index + 1}` };
    }
    return undefined;
  }

  private matches(rule: FaultRule, request: RequestInfo): boolean {
    const methods = asList(rule.method);
    if (methods && !methods.some((m) => m.toUpperCase() === request.method)) return false;
    const operations = asList(rule.operation);
    if (operations && !operations.includes(request.operation)) return false;
    if (rule.path && !rule.path.test(request.path)) return false;
    if (rule.query instanceof RegExp) {
      if (!rule.query.test(request.query.toString())) return false;
    } else {
      const names = asList(rule.query);
      if (names && !names.every((name) => request.query.has(name))) return false;
    }
    if (rule.where && !rule.where(request)) return false;
    return true;
  }

  private record(request: RequestInfo, fault: Fault, rule: string): void {
    const label = faultLabel(fault);
    const s = this.stats;
    s.injected += 1;
    s.faults[label] = (s.faults[label] ?? 0) + 1;
    s.byRule[rule] = (s.byRule[rule] ?? 0) + 1;
    s.byOperation[request.operation] = (s.byOperation[request.operation] ?? 0) + 1;
    this.log.push({ seq: request.seq, method: request.method, path: request.path, operation: request.operation, fault: label, rule });
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const facts: RequestFacts = {
      method: (req.method ?? 'GET').toUpperCase(),
      path: q === -1 ? raw : raw.slice(0, q),
      query: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)),
      headers: req.headers,
    };
    const request: RequestInfo = { ...facts, operation: operationOf(this.dialect, facts), seq: ++this.seq };
    this.stats.requests += 1;
    this.stats.operations[request.operation] = (this.stats.operations[request.operation] ?? 0) + 1;
    const chosen = this.choose(request);
    if (chosen) this.record(request, chosen.fault, chosen.rule);
    let fault = chosen?.fault;
    const statusQuery = this.emulateGcsStatus && isGcsStatusQuery(request);
    // A status query is answered here, never forwarded: damage to its answer becomes a reset.
    if (statusQuery && (fault?.kind === 'dropResponse' || fault?.kind === 'resetResponse' || fault?.kind === 'truncateBody')) fault = { kind: 'resetRequest' };
    if (statusQuery && fault === undefined) {
      this.answerGcsStatus(req, res, request);
      return;
    }
    switch (fault?.kind) {
      case 'status':
        void this.answerError(req, res, request, fault.status, fault.code ?? serverErrorCode(this.dialect, fault.status), fault.retryAfterSeconds);
        return;
      case 'slowDown':
        void this.answerError(req, res, request, 503, this.dialect === 's3' ? 'SlowDown' : serverErrorCode(this.dialect, 503), fault.retryAfterSeconds);
        return;
      case 'resetRequest':
        this.resetRequest(req);
        return;
      case 'stall':
        this.stall(req, fault.ms ?? this.stallMs);
        return;
      default:
        this.forward(req, res, request, fault);
    }
  }

  private async answerError(req: IncomingMessage, res: ServerResponse, request: RequestInfo, status: number, code: string, retryAfter?: number): Promise<void> {
    await drain(req);
    if (res.destroyed) return;
    const message = status === 503 && code === 'SlowDown' ? 'Please reduce your request rate.' : `Injected fault (${status})`;
    const { contentType, body, headers } = errorBody(this.dialect, status, code, message);
    const bytes = request.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(body);
    res.writeHead(status, {
      ...headers,
      'content-type': contentType,
      'content-length': String(request.method === 'HEAD' ? Buffer.byteLength(body) : bytes.length),
      ...(retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {}),
    });
    res.end(bytes);
  }

  private answerGcsStatus(req: IncomingMessage, res: ServerResponse, request: RequestInfo): void {
    const session = this.gcsSessions.get(request.query.get('upload_id') ?? '');
    void drain(req).then(() => {
      if (res.destroyed) return;
      if (session?.final) {
        const { status, contentType, body } = session.final;
        res.writeHead(status, { 'content-type': contentType, 'content-length': String(body.length) });
        res.end(body);
        return;
      }
      res.writeHead(308, { 'content-length': '0', ...(session?.range ? { range: session.range } : {}) });
      res.end();
    });
  }

  /** Notes what the server answered to a resumable-upload request, for later status queries. */
  private recordGcsSession(request: RequestInfo, answer: IncomingMessage): void {
    const id = request.query.get('upload_id');
    if (!this.emulateGcsStatus || !id || request.method !== 'PUT') return;
    const session = this.gcsSessions.get(id) ?? {};
    this.gcsSessions.set(id, session);
    const status = answer.statusCode ?? 0;
    if (status === 308) {
      session.range = typeof answer.headers.range === 'string' ? answer.headers.range : undefined;
      return;
    }
    if (status !== 200 && status !== 201) return;
    const chunks: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => chunks.push(chunk));
    answer.on('end', () => {
      session.final = { status, contentType: String(answer.headers['content-type'] ?? 'application/json'), body: Buffer.concat(chunks) };
    });
  }

  private resetRequest(req: IncomingMessage): void {
    const socket = req.socket;
    const bodyExpected = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    if (!bodyExpected && req.headers['transfer-encoding'] === undefined) {
      reset(socket);
      return;
    }
    // Mid-request: after the first piece of the body has arrived.
    req.once('data', () => reset(socket));
    req.once('end', () => reset(socket));
    req.resume();
  }

  private stall(req: IncomingMessage, ms: number): void {
    const socket = req.socket;
    req.resume();
    const entry = {
      socket,
      timer: setTimeout(() => {
        this.stalled.delete(entry);
        reset(socket);
      }, ms),
    };
    this.stalled.add(entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      this.stalled.delete(entry);
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse, request: RequestInfo, fault: Fault | undefined): void {
    this.stats.forwarded += 1;
    const upstream = httpRequest({
      host: this.target.hostname,
      port: this.target.port,
      method: req.method,
      path: req.url,
      headers: forwardHeaders(req.headers),
      agent: this.agent,
    });
    let answered = false;
    upstream.on('error', () => {
      if (answered) return;
      answered = true;
      this.stats.upstreamErrors += 1;
      reset(req.socket);
    });
    // The client went away (gave up, or was reset by us): stop the upstream request as well.
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
    upstream.on('response', (answer) => {
      answered = true;
      this.recordGcsSession(request, answer);
      void this.relay(req, res, answer, fault).catch(() => {
        this.stats.upstreamErrors += 1;
        reset(req.socket);
      });
    });
    req.pipe(upstream);
  }

  private responseHeaders(answer: IncomingMessage): Record<string, string | string[]> {
    const headers = forwardHeaders(answer.headers);
    const location = headers['location'];
    // Resumable-upload sessions point at the server itself; keep the client on the proxy.
    if (typeof location === 'string' && location.startsWith(this.target.origin)) {
      headers['location'] = this.origin + location.slice(this.target.origin.length);
    }
    return headers;
  }

  private async relay(req: IncomingMessage, res: ServerResponse, answer: IncomingMessage, fault: Fault | undefined): Promise<void> {
    const status = answer.statusCode ?? 502;
    const headers = this.responseHeaders(answer);
    const socket = req.socket;
    const hasBody = req.method !== 'HEAD' && status !== 204 && status !== 304;
    const declared = Number(answer.headers['content-length']);

    if (fault?.kind === 'dropResponse' || ((fault?.kind === 'resetResponse' || fault?.kind === 'truncateBody') && (!hasBody || declared === 0))) {
      // The server has done the work; its answer is lost. (A bodiless answer cannot be cut mid-body.)
      await readAll(answer);
      reset(socket);
      return;
    }
    if (fault?.kind === 'resetResponse' || fault?.kind === 'truncateBody') {
      const body = Number.isFinite(declared) ? undefined : await readAll(answer);
      const total = body ? body.length : declared;
      if (total === 0) {
        reset(socket);
        return;
      }
      const keep = fault.kind === 'truncateBody' ? Math.min(total - 1, Math.floor(total * (fault.keep ?? 0.5))) : Math.floor(total / 2);
      res.writeHead(status, { ...headers, 'content-length': String(total) });
      res.flushHeaders();
      let sent = 0;
      const cut = async () => {
        await flushed(socket);
        if (fault.kind === 'truncateBody') socket.destroy();
        else reset(socket);
      };
      if (body) {
        res.write(body.subarray(0, keep));
        await cut();
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const onData = (chunk: Buffer) => {
          const room = keep - sent;
          if (room > 0) {
            const piece = chunk.subarray(0, room);
            sent += piece.length;
            res.write(piece);
          }
          if (sent >= keep) {
            answer.off('data', onData);
            answer.destroy();
            resolve();
          }
        };
        answer.on('data', onData);
        answer.on('end', resolve);
        answer.on('error', reject);
      });
      await cut();
      return;
    }
    res.writeHead(status, headers);
    answer.pipe(res);
    answer.on('error', () => reset(socket));
    // A client that leaves mid-answer (an aborted read) must not pin the server connection.
    res.on('close', () => {
      if (!answer.complete) answer.destroy();
    });
  }
}
