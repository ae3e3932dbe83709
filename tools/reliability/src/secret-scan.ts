import { inspect } from 'node:util';

/** Where a secret turned up. */
export interface SecretHit {
  /** The label of the secret that was found (never its value). */
  secret: string;
  /** How the error was looked at: a field path, `JSON.stringify`, `util.inspect`, `String()`. */
  where: string;
}

/**
 * Fields SDK errors keep the raw exchange in. They are searched even when non-enumerable, since
 * a caller (or an error reporter) reading `error.cause.request.url` gets whatever is there.
 */
const EXCHANGE_FIELDS = ['$response', 'request', 'response', 'config', 'options', 'headers', 'url', 'body', 'cause', 'errors', 'details'];

/** Shapes that are credentials whatever their value (as they would appear in URLs, headers and PEM files). */
export const CREDENTIAL_PATTERNS: Readonly<Record<string, RegExp>> = {
  'SAS signature (sig=)': /[?&]sig=[A-Za-z0-9%+/=]{16,}/,
  'presigned S3 signature': /X-Amz-Signature=[0-9a-f]{64}/i,
  'S3 session token header': /x-amz-security-token["']?\s*[:=]\s*["']?[A-Za-z0-9%+/=]{8,}/i,
  'bearer token': /Bearer\s+[A-Za-z0-9._~+/-]{16,}/,
  'private key (PEM)': /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  'Azure shared key header': /SharedKey(?:Lite)?\s+[^:\s]+:[A-Za-z0-9+/=]{20,}/,
};

/** Variants under which a secret shows up in transit: raw, percent-encoded, and with `+`/`/` escaped. */
function variants(secret: string): string[] {
  const out = new Set([secret, encodeURIComponent(secret), encodeURI(secret)]);
  try {
    out.add(decodeURIComponent(secret));
  } catch {
    // not percent-encoded
  }
  // PEM keys also travel JSON-escaped.
  if (secret.includes('\n')) out.add(secret.replace(/\n/g, '\\n'));
  return [...out].filter((s) => s.length >= 8);
}

function cycleSafeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    return (
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'object' && v !== null) {
          if (seen.has(v)) return '[Circular]';
          seen.add(v);
        }
        return v;
      }) ?? ''
    );
  } catch (error) {
    return `[unserialisable: ${(error as Error).message}]`;
  }
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof URL) return value.href;
  if (value instanceof Uint8Array && value.length <= 1 << 20) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('latin1');
  return undefined;
}

/**
 * Every string reachable from `root` with its path: own properties (enumerable or not) of errors,
 * enumerable properties of other objects, known SDK exchange fields even when hidden, Headers and
 * Map entries. Bounded in depth and size so a socket graph cannot blow it up.
 */
function* strings(root: unknown, maxDepth = 12, maxNodes = 200_000): Generator<[string, string]> {
  const seen = new WeakSet<object>();
  const stack: Array<[unknown, string, number]> = [[root, 'error', 0]];
  let nodes = 0;
  while (stack.length > 0 && nodes++ < maxNodes) {
    const [value, path, depth] = stack.pop()!;
    const text = textOf(value);
    if (text !== undefined) {
      yield [path, text];
      continue;
    }
    if (typeof value !== 'object' || value === null || depth > maxDepth) {
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') yield [path, String(value)];
      continue;
    }
    if (seen.has(value)) continue;
    seen.add(value);
    if (ArrayBuffer.isView(value)) continue;
    if (typeof (value as Headers).forEach === 'function' && typeof (value as Headers).get === 'function' && !(value instanceof Map)) {
      try {
        (value as Headers).forEach((v: string, k: string) => stack.push([v, `${path}.headers[${k}]`, depth + 1]));
      } catch {
        // not a real Headers
      }
    }
    if (value instanceof Map) {
      for (const [k, v] of value) stack.push([v, `${path}.get(${String(k)})`, depth + 1]);
    }
    const names = new Set<string>(Object.keys(value));
    if (value instanceof Error) for (const name of Object.getOwnPropertyNames(value)) names.add(name);
    for (const name of EXCHANGE_FIELDS) if (name in value) names.add(name);
    if (value instanceof Error) {
      names.add('message');
      names.add('stack');
    }
    for (const name of names) {
      let child: unknown;
      try {
        child = (value as Record<string, unknown>)[name];
      } catch {
        continue;
      }
      stack.push([child, `${path}.${name}`, depth + 1]);
    }
  }
}

/**
 * Looks for `secrets` (label → value) and credential-shaped text anywhere an error could leak
 * them: the message and stack of every error in the `cause` chain, every reachable field
 * (including SDK `$response`, `request`, `response` and their URLs and headers),
 * `JSON.stringify(error)`, `util.inspect(error, { depth: 10 })` and `String(error)`.
 */
export function scanForSecrets(error: unknown, secrets: Readonly<Record<string, string>>, patterns: Readonly<Record<string, RegExp>> = CREDENTIAL_PATTERNS): SecretHit[] {
  const needles = Object.entries(secrets).flatMap(([label, value]) => variants(value).map((v) => [label, v] as const));
  const hits = new Map<string, SecretHit>();
  const check = (where: string, text: string) => {
    for (const [label, needle] of needles) {
      if (text.includes(needle)) hits.set(`${label}@${where}`, { secret: label, where });
    }
    for (const [label, pattern] of Object.entries(patterns)) {
      if (pattern.test(text)) hits.set(`${label}@${where}`, { secret: label, where });
    }
  };
  for (const [path, text] of strings(error)) check(path, text);
  check('JSON.stringify(error)', cycleSafeStringify(error));
  check('util.inspect(error, { depth: 10 })', inspect(error, { depth: 10 }));
  check('String(error)', String(error));
  return [...hits.values()];
}
