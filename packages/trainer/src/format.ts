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
        body = String(abs);
        break;
      case 'f':
      case 'F':
        body = abs.toFixed(precision ?? 6);
        break;
      case 'e':
      case 'E':
        body = pythonExponent(abs.toExponential(precision ?? 6));
        break;
      case 'g':
      case 'G':
        body = pythonGeneral(abs, precision ?? 6);
        break;
      case '%':
        body = `${(abs * 100).toFixed(precision ?? 6)}%`;
        break;
      default:
        body = precision === undefined ? String(abs) : pythonGeneral(abs, precision);
    }
    if (type === 'E' || type === 'G' || type === 'F') body = body.toUpperCase();
  }
  if (comma) {
    const [int, frac] = body.split('.');
    body = int!.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac === undefined ? '' : `.${frac}`);
  }
  const negative = value < 0 || Object.is(value, -0);
  const signText = negative ? '-' : sign === '+' ? '+' : sign === ' ' ? ' ' : '';
  const width = widthText === undefined ? 0 : Number(widthText);
  const fill = fillChar ?? (zero && !align ? '0' : ' ');
  const alignment = align ?? (zero ? '=' : '>');
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

/** JS writes 1.5e+1; Python writes 1.5e+01. */
function pythonExponent(text: string): string {
  return text.replace(/e([+-])(\d)$/, 'e$10$2');
}

function pythonGeneral(abs: number, precision: number): string {
  const p = precision === 0 ? 1 : precision;
  if (abs === 0) return '0';
  const exponent = Math.floor(Math.log10(abs));
  if (exponent < -4 || exponent >= p) {
    const [mantissa, exp] = abs.toExponential(p - 1).split('e');
    return pythonExponent(`${stripZeros(mantissa!)}e${exp}`);
  }
  return stripZeros(abs.toFixed(Math.max(0, p - 1 - exponent)));
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
