import { FsError } from '@strata/fs-core';

/** Machine-readable reasons a file was refused. Documented in the README. */
export type CorruptReason =
  | 'truncated'
  | 'header-too-large'
  | 'header-encoding'
  | 'header-json'
  | 'header-not-object'
  | 'duplicate-name'
  | 'forbidden-key'
  | 'invalid-metadata'
  | 'invalid-tensor-info'
  | 'unknown-dtype'
  | 'size-mismatch'
  | 'overlapping-offsets'
  | 'gapped-offsets'
  | 'out-of-bounds'
  | 'trailing-data'
  | 'unsupported-version'
  | 'manifest-mismatch'
  | 'invalid-tree'
  | 'digest-mismatch';

export interface CorruptCheckpointErrorOptions {
  path?: string | undefined;
  protocol?: string | undefined;
  cause?: unknown;
}

/**
 * A file that is not a valid safetensors file or Strata checkpoint: truncated, tampered with,
 * or never one. `code` is `ECORRUPT`; `reason` says why.
 */
export class CorruptCheckpointError extends FsError {
  readonly reason: CorruptReason;

  constructor(reason: CorruptReason, detail: string, options: CorruptCheckpointErrorOptions = {}) {
    const where = options.path === undefined ? '' : `: ${options.protocol ? `${options.protocol}://` : ''}${options.path}`;
    super('ECORRUPT', `Corrupt checkpoint (${reason}): ${detail}${where}`, { ...options, retryable: false });
    this.reason = reason;
  }

  /** The same error, annotated with where the bytes came from. */
  withLocation(path: string, protocol: string | undefined): CorruptCheckpointError {
    if (this.path !== undefined) return this;
    const detail = this.message.replace(/^Corrupt checkpoint \([^)]*\): /, '');
    return new CorruptCheckpointError(this.reason, detail, { path, protocol, cause: this.cause });
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), reason: this.reason };
  }
}

/** A value in the checkpoint object that cannot be stored. `keyPath` names where it is. */
export class UnstorableValueError extends TypeError {
  readonly keyPath: string;

  constructor(keyPath: string, what: string) {
    super(`Cannot store the value at key path "${keyPath || '(root)'}": ${what}`);
    this.name = 'UnstorableValueError';
    this.keyPath = keyPath;
  }
}

export interface TensorMismatch {
  key: string;
  expected: { dtype: string; shape: number[] };
  actual: { dtype: string; shape: number[] } | { notATensor: true };
  /** Set when dtype and shape agree but a tensor is malformed: `source: …` or `target: …`, then why. */
  problem?: string;
}

/** `loadStateDict` found keys or tensors that do not line up. Nothing was copied. */
export class StateDictMismatchError extends Error {
  readonly missingKeys: string[];
  readonly unexpectedKeys: string[];
  readonly mismatchedKeys: TensorMismatch[];

  constructor(missingKeys: string[], unexpectedKeys: string[], mismatchedKeys: TensorMismatch[]) {
    const parts: string[] = [];
    if (mismatchedKeys.length > 0) {
      parts.push(
        `shape/dtype mismatch: ${mismatchedKeys
          .map((m) =>
            m.problem !== undefined
              ? `${m.key} (${m.problem})`
              : `${m.key} (expected ${m.expected.dtype}[${m.expected.shape.join(',')}], got ${'notATensor' in m.actual ? 'a non-tensor value' : `${m.actual.dtype}[${m.actual.shape.join(',')}]`})`,
          )
          .join('; ')}`,
      );
    }
    if (missingKeys.length > 0) parts.push(`missing keys: ${missingKeys.join(', ')}`);
    if (unexpectedKeys.length > 0) parts.push(`unexpected keys: ${unexpectedKeys.join(', ')}`);
    super(`State dict does not match the target: ${parts.join('. ')}`);
    this.name = 'StateDictMismatchError';
    this.missingKeys = missingKeys;
    this.unexpectedKeys = unexpectedKeys;
    this.mismatchedKeys = mismatchedKeys;
  }
}
