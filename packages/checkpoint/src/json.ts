/**
 * A strict JSON (RFC 8259) parser for untrusted headers. Unlike JSON.parse it
 * - rejects duplicate object keys (JSON.parse silently keeps the last one),
 * - rejects the key `__proto__` anywhere,
 * - builds objects whose prototype chain holds no properties and ends at null (see EmptyObject),
 *   so nothing it returns can reach Object.prototype,
 * - is iterative with a nesting limit, so hostile nesting cannot overflow the stack,
 * - stops after `maxContainers` objects and arrays (`maxObjects` objects), so a small input cannot
 *   fill the heap: an object costs far more than its bytes of input, most of all one with keys no
 *   other object has (JSON.parse needs a minute and 1.2 GB for 100 MB of `{"k1":0},{"k2":0},…`).
 * It runs in time linear in the input.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export type JsonProblem = 'syntax' | 'duplicate-key' | 'forbidden-key' | 'too-deep' | 'too-many-containers';

export class JsonParseError extends Error {
  constructor(
    readonly problem: JsonProblem,
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = 'JsonParseError';
  }
}

export const MAX_JSON_DEPTH = 1000;

export interface ParseJsonOptions {
  /** Most objects and arrays to build; the default is unlimited. */
  maxContainers?: number | undefined;
  /** Most objects to build (they count towards maxContainers too); the default is unlimited. */
  maxObjects?: number | undefined;
  /**
   * Read as the reference safetensors reader (serde_json) reads a header: a string may not hold a
   * lone surrogate, and a number written with a fraction, an exponent or a minus sign (`1.0`, `4e0`,
   * `-0`), which serde never reads as an unsigned integer, comes back NaN so that every count check
   * refuses it while fields nobody reads stay harmless.
   */
  asSafetensorsHeader?: boolean | undefined;
}

/** Whether `text` holds half of a surrogate pair alone: no valid UTF-8 spells it, so Python's readers refuse it. */
export function hasLoneSurrogate(text: string): boolean {
  return !text.isWellFormed();
}

/** The limits a refusal quotes: "N objects and arrays, M of them objects". */
export function describeContainerLimits(limits: { maxContainers: number; maxObjects: number }): string {
  return `${limits.maxContainers} objects and arrays, ${limits.maxObjects} of them objects`;
}

/**
 * Empty objects get this empty, frozen, null-rooted prototype: as safe as Object.create(null) but
 * ~32 bytes instead of ~190, for a hostile `[{},{},…]`. Objects with keys stay Object.create(null),
 * which is faster than fast mode when every object has different keys.
 */
const EmptyObject = function EmptyObject() {} as unknown as new () => JsonObject;
EmptyObject.prototype = Object.freeze(Object.create(null) as object) as JsonObject;

const C = {
  Tab: 9,
  Newline: 10,
  Return: 13,
  Space: 32,
  Quote: 34,
  Plus: 43,
  Comma: 44,
  Minus: 45,
  Dot: 46,
  Zero: 48,
  Nine: 57,
  Colon: 58,
  UpperE: 69,
  OpenBracket: 91,
  Backslash: 92,
  CloseBracket: 93,
  LowerE: 101,
  OpenBrace: 123,
  CloseBrace: 125,
} as const;

type Frame = { kind: 'array'; value: JsonValue[] } | { kind: 'object'; value: JsonObject; key: string | undefined };

export function parseJson(text: string, options: ParseJsonOptions = {}): JsonValue {
  let pos = 0;
  const len = text.length;
  const stack: Frame[] = [];
  const maxContainers = options.maxContainers ?? Infinity;
  const maxObjects = options.maxObjects ?? Infinity;
  const asHeader = options.asSafetensorsHeader === true;
  let containers = 0;
  let objects = 0;

  const fail = (problem: JsonProblem, message: string): never => {
    throw new JsonParseError(problem, message, pos);
  };
  const skipWhitespace = (): void => {
    while (pos < len) {
      const c = text.charCodeAt(pos);
      if (c === C.Space || c === C.Newline || c === C.Return || c === C.Tab) pos++;
      else break;
    }
  };

  const parseString = (): string => {
    // pos is at the opening quote.
    pos++;
    let out = '';
    let chunkStart = pos;
    for (;;) {
      if (pos >= len) fail('syntax', 'Unterminated string');
      const c = text.charCodeAt(pos);
      if (c === C.Quote) {
        out += text.slice(chunkStart, pos);
        pos++;
        if (asHeader && hasLoneSurrogate(out)) fail('syntax', 'Lone surrogate escape in string');
        return out;
      }
      if (c < 0x20) fail('syntax', 'Control character in string');
      if (c !== C.Backslash) {
        pos++;
        continue;
      }
      out += text.slice(chunkStart, pos);
      pos++;
      if (pos >= len) fail('syntax', 'Unterminated escape');
      const e = text[pos]!;
      pos++;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = text.slice(pos, pos + 4);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('syntax', 'Bad \\u escape');
          out += String.fromCharCode(parseInt(hex, 16));
          pos += 4;
          break;
        }
        default:
          pos--;
          fail('syntax', 'Bad escape');
      }
      chunkStart = pos;
    }
  };

  const parseNumber = (): number => {
    const start = pos;
    let unsignedInteger = true;
    if (text.charCodeAt(pos) === C.Minus) {
      pos++;
      unsignedInteger = false;
    }
    const digitsFrom = (required: boolean): void => {
      const s = pos;
      while (pos < len) {
        const c = text.charCodeAt(pos);
        if (c >= C.Zero && c <= C.Nine) pos++;
        else break;
      }
      if (required && pos === s) fail('syntax', 'Expected digit');
    };
    if (text.charCodeAt(pos) === C.Zero) pos++;
    else digitsFrom(true);
    if (text.charCodeAt(pos) === C.Dot) {
      pos++;
      digitsFrom(true);
      unsignedInteger = false;
    }
    const e = text.charCodeAt(pos);
    if (e === C.LowerE || e === C.UpperE) {
      pos++;
      const sign = text.charCodeAt(pos);
      if (sign === C.Plus || sign === C.Minus) pos++;
      digitsFrom(true);
      unsignedInteger = false;
    }
    return asHeader && !unsignedInteger ? Number.NaN : Number(text.slice(start, pos));
  };

  const parseLiteral = (word: string, value: JsonValue): JsonValue => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return fail('syntax', 'Unexpected token');
  };

  // Attaches a finished value to the innermost container, or returns it when at top level.
  let result: { value: JsonValue } | undefined;
  const attach = (value: JsonValue): void => {
    const top = stack[stack.length - 1];
    if (!top) {
      result = { value };
      return;
    }
    if (top.kind === 'array') top.value.push(value);
    else {
      top.value[top.key!] = value;
      top.key = undefined;
    }
  };

  // After a value inside a container: ',' continues, a closing bracket finishes the container.
  const afterValue = (): boolean => {
    for (;;) {
      skipWhitespace();
      const top = stack[stack.length - 1];
      if (!top) return false;
      const c = text.charCodeAt(pos);
      if (c === C.Comma) {
        pos++;
        if (top.kind === 'object') readKey(top);
        return true;
      }
      if ((top.kind === 'array' && c === C.CloseBracket) || (top.kind === 'object' && c === C.CloseBrace)) {
        pos++;
        stack.pop();
        attach(top.value);
        continue;
      }
      return fail('syntax', top.kind === 'array' ? "Expected ',' or ']'" : "Expected ',' or '}'");
    }
  };

  const readKey = (frame: Extract<Frame, { kind: 'object' }>): void => {
    skipWhitespace();
    if (text.charCodeAt(pos) !== C.Quote) fail('syntax', 'Expected a string key');
    const keyPos = pos;
    const key = parseString();
    if (key === '__proto__') {
      pos = keyPos;
      fail('forbidden-key', 'Forbidden key "__proto__"');
    }
    if (Object.hasOwn(frame.value, key)) {
      pos = keyPos;
      fail('duplicate-key', `Duplicate key ${JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key)}`);
    }
    skipWhitespace();
    if (text.charCodeAt(pos) !== C.Colon) fail('syntax', "Expected ':'");
    pos++;
    frame.key = key;
  };

  for (;;) {
    skipWhitespace();
    if (pos >= len) fail('syntax', 'Unexpected end of input');
    const c = text.charCodeAt(pos);
    if (c === C.OpenBrace || c === C.OpenBracket) {
      if (stack.length >= MAX_JSON_DEPTH) fail('too-deep', `Nesting deeper than ${MAX_JSON_DEPTH}`);
      if (++containers > maxContainers) fail('too-many-containers', `More objects and arrays than the ${maxContainers} allowed`);
      if (c === C.OpenBrace && ++objects > maxObjects) fail('too-many-containers', `More objects than the ${maxObjects} allowed`);
      pos++;
      skipWhitespace();
      if (c === C.OpenBrace) {
        if (text.charCodeAt(pos) === C.CloseBrace) {
          pos++;
          attach(new EmptyObject());
        } else {
          const frame: Frame = { kind: 'object', value: Object.create(null) as JsonObject, key: undefined };
          stack.push(frame);
          readKey(frame);
          continue;
        }
      } else {
        const frame: Frame = { kind: 'array', value: [] };
        if (text.charCodeAt(pos) === C.CloseBracket) {
          pos++;
          attach(frame.value);
        } else {
          stack.push(frame);
          continue;
        }
      }
    } else if (c === C.Quote) {
      attach(parseString());
    } else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) {
      attach(parseNumber());
    } else if (c === 116 /* t */) {
      attach(parseLiteral('true', true));
    } else if (c === 102 /* f */) {
      attach(parseLiteral('false', false));
    } else if (c === 110 /* n */) {
      attach(parseLiteral('null', null));
    } else {
      fail('syntax', 'Unexpected character');
    }
    if (!afterValue()) break;
  }
  skipWhitespace();
  if (pos !== len) fail('syntax', 'Unexpected data after the JSON value');
  return result!.value;
}
