/**
 * The part of Python's format-spec mini-language that checkpoint filename templates use:
 * `[[fill]align][sign][0][width][,][.precision][type]` with types d, f, F, e, E, g, G, %.
 */
const SPEC = /^(?:(.)?([<>=^]))?([+\- ])?(0)?(\d+)?(,)?(?:\.(\d+))?([dfFeEgG%s])?$/s;

export function formatNumber(value: number, spec: string): string {
  const m = SPEC.exec(spec);
  if (!m) throw new Error(`Unsupported format spec ":${spec}"`);
  const [, fillChar, align, sign = '-', zero, widthText, comma, precisionText, type] = m;
  const precision = precisionText === undefined ? undefined : Number(precisionText);
  let body: string;
  const abs = Math.abs(value);
  if (Number.isNaN(value)) body = 'nan';
  else if (!Number.isFinite(value)) body = 'inf';
  else {
    switch (type) {
      case 'd':
        if (!Number.isInteger(value)) throw new Error(`Format ":${spec}" needs an integer, got ${value}`);
        body = fixed(abs, 0);
        break;
      case 'f':
      case 'F':
        body = fixed(abs, precision ?? 6);
        break;
      case 'e':
      case 'E':
        body = exponential(abs, precision ?? 6);
        break;
      case 'g':
      case 'G':
        body = general(abs, precision ?? 6, false);
        break;
      case '%':
        body = Number.isFinite(abs * 100) ? `${fixed(abs * 100, precision ?? 6)}%` : 'inf%';
        break;
      default:
        body = precision === undefined ? pythonExponent(String(abs)) : general(abs, precision, true);
    }
    if (type === 'E' || type === 'G' || type === 'F') body = body.toUpperCase();
  }
  const negative = value < 0 || Object.is(value, -0);
  const signText = negative ? '-' : sign === '+' ? '+' : sign === ' ' ? ' ' : '';
  const width = widthText === undefined ? 0 : Number(widthText);
  const fill = fillChar ?? (zero && !align ? '0' : ' ');
  const alignment = align ?? (zero ? '=' : '>');
  if (comma) {
    const [int, frac] = body.split('.');
    const fraction = frac === undefined ? '' : `.${frac}`;
    let digits = int!;
    // As in Python, zero padding is grouped too: `010,.1f` gives 0,001,234.5 (a group never starts with a comma).
    if (fill === '0' && alignment === '=' && /^\d+$/.test(digits)) {
      while (groupThousands(digits).length < width - signText.length - fraction.length) digits = `0${digits}`;
    }
    body = groupThousands(digits) + fraction;
  }
  const padding = Math.max(0, width - signText.length - body.length);
  const pad = fill.repeat(padding);
  switch (alignment) {
    case '<':
      return signText + body + pad;
    case '^':
      return fill.repeat(Math.floor(padding / 2)) + signText + body + fill.repeat(Math.ceil(padding / 2));
    case '=':
      return signText + pad + body;
    default:
      return pad + signText + body;
  }
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** JS writes 1.5e+1; Python writes 1.5e+01. */
function pythonExponent(text: string): string {
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

/**
 * A finite `abs >= 0` exactly, as `digits × 10^-scale`. Every double has a finite decimal
 * expansion, so rounding it here sees the true value, as Python's formatting does.
 */
function exactDecimal(abs: number): { digits: bigint; scale: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, abs);
  const bits = view.getBigUint64(0);
  const biasedExponent = Number(bits >> 52n);
  const fraction = bits & ((1n << 52n) - 1n);
  const mantissa = biasedExponent === 0 ? fraction : fraction | (1n << 52n);
  const exponent = biasedExponent === 0 ? -1074 : biasedExponent - 1075;
  return exponent >= 0 ? { digits: mantissa << BigInt(exponent), scale: 0 } : { digits: mantissa * 5n ** BigInt(-exponent), scale: -exponent };
}

/**
 * The exact value rounded to `places` decimals (negative: to tens, hundreds…) as an integer count
 * of 10^-places. Ties go to even, as in Python: JS's toFixed sends 0.125 to 0.13 where Python
 * (and so Lightning's file names) write 0.12.
 */
function roundTo({ digits, scale }: { digits: bigint; scale: number }, places: number): bigint {
  const shift = scale - places;
  if (shift <= 0) return digits * 10n ** BigInt(-shift);
  const divisor = 10n ** BigInt(shift);
  const quotient = digits / divisor;
  const twiceRemainder = 2n * (digits % divisor);
  return twiceRemainder > divisor || (twiceRemainder === divisor && quotient % 2n === 1n) ? quotient + 1n : quotient;
}

/** Python's `.{places}f` of a finite `abs >= 0`. */
function fixed(abs: number, places: number): string {
  const units = roundTo(exactDecimal(abs), places).toString();
  if (places === 0) return units;
  const padded = units.padStart(places + 1, '0');
  return `${padded.slice(0, -places)}.${padded.slice(-places)}`;
}

/** `abs` rounded to `precision + 1` significant digits, and the decimal exponent of the result. */
function significant(abs: number, precision: number): { digits: string; exponent: number } {
  if (abs === 0) return { digits: '0'.repeat(precision + 1), exponent: 0 };
  const exact = exactDecimal(abs);
  let exponent = exact.digits.toString().length - 1 - exact.scale;
  let digits = roundTo(exact, precision - exponent).toString();
  if (digits.length > precision + 1) {
    // Rounded up to the next power of ten (9.96 → 10.0).
    digits = digits.slice(0, precision + 1);
    exponent += 1;
  }
  return { digits, exponent };
}

/** Python's `.{precision}e`. */
function exponential(abs: number, precision: number): string {
  const { digits, exponent } = significant(abs, precision);
  const mantissa = precision === 0 ? digits : `${digits[0]}.${digits.slice(1)}`;
  return `${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/**
 * Python's `.{precision}g`, or with `keepPoint` the format with a precision and no type, which
 * keeps one digit after the point in fixed notation (`1.0`, not `1`).
 */
function general(abs: number, precision: number, keepPoint: boolean): string {
  const p = precision === 0 ? 1 : precision;
  const { exponent } = significant(abs, p - 1);
  // With no type, Python turns to exponents one digit sooner (its repr-style rule): 422.33 → '.3' gives 4.22e+02.
  if (exponent < -4 || exponent >= (keepPoint ? p - 1 : p)) {
    const [mantissa, exp] = exponential(abs, p - 1).split('e');
    return `${stripZeros(mantissa!)}e${exp}`;
  }
  const text = stripZeros(fixed(abs, p - 1 - exponent));
  return keepPoint && !text.includes('.') ? `${text}.0` : text;
}

function stripZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** `{name}` or `{name:spec}` in a checkpoint filename template. */
const PLACEHOLDER = /\{([^{}:]+)(?::([^{}]*))?\}/g;

/**
 * Lightning's checkpoint filename templating: `{epoch}-{val_loss:.2f}` → `epoch=1-val_loss=0.12`
 * (with `autoInsertMetricName`), `{epoch:03d}` → `epoch=001`. Unknown names format as 0.
 */
export function formatCheckpointName(template: string, metrics: Record<string, number>, autoInsertMetricName = true): string {
  return template.replace(PLACEHOLDER, (_all, rawName: string, spec: string | undefined) => {
    const name = rawName.trim();
    const value = metrics[name] ?? 0;
    const text = spec === undefined || spec === '' ? formatPlain(value) : formatNumber(value, spec);
    return autoInsertMetricName ? `${name}=${text}` : text;
  });
}

function formatPlain(value: number): string {
  if (Number.isNaN(value)) return 'nan';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  return String(value);
}

/**
 * Matches the file names `formatCheckpointName(template, <any metrics>, autoInsertMetricName)`
 * gives, with ModelCheckpoint's optional `-vN` suffix and `.ckpt`: each value may be any text.
 */
export function checkpointNamePattern(template: string, autoInsertMetricName = true): RegExp {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  let pattern = '';
  let literalStart = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    pattern += escape(template.slice(literalStart, match.index));
    pattern += `${autoInsertMetricName ? escape(`${match[1]!.trim()}=`) : ''}.+?`;
    literalStart = match.index + match[0].length;
  }
  pattern += escape(template.slice(literalStart));
  return new RegExp(`^${pattern}(?:-v\\d+)?\\.ckpt$`);
}
