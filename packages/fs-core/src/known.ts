export interface KnownImplementation {
  module: string;
  hint: string;
}

const pkg = (name: string): KnownImplementation => ({ module: name, hint: `npm install ${name}` });

/** Protocols that load lazily from their own package, like fsspec's known_implementations. */
export const knownImplementations: Readonly<Record<string, Readonly<KnownImplementation>>> = Object.freeze({
  s3: pkg('@strata/fs-s3'),
  s3a: pkg('@strata/fs-s3'),
  gs: pkg('@strata/fs-gcs'),
  gcs: pkg('@strata/fs-gcs'),
  az: pkg('@strata/fs-azure'),
  abfs: pkg('@strata/fs-azure'),
  abfss: pkg('@strata/fs-azure'),
  azure: pkg('@strata/fs-azure'),
});
