// Pinned versions and on-disk locations shared by install.js and index.js.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

export const repoRoot = path.resolve(here, '..', '..');
export const cacheDir = path.join(repoRoot, '.cache');
export const binDir = path.join(cacheDir, 'bin');
export const venvDir = path.join(cacheDir, 'venv');
export const stampDir = path.join(cacheDir, 'stamps');

// MinIO publishes no tagged Go module versions, only pseudo-versions of its main branch.
// This one is the newest the module proxy serves; it builds with go1.26 and enforces
// If-None-Match: * on PutObject and CompleteMultipartUpload (checked by selftest.js).
export const MINIO_MODULE = 'github.com/minio/minio';
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

export const FAKE_GCS_MODULE = 'github.com/fsouza/fake-gcs-server';
export const FAKE_GCS_VERSION = 'v1.56.1';

// numpy 2.5 dropped Python 3.11 (the machine's python3), so numpy stays on 2.4.
export const PYTHON_REQUIREMENTS = ['safetensors==0.8.0', 'numpy==2.4.6', 'ml_dtypes==0.6.0'];

export const goTools = {
  minio: { module: MINIO_MODULE, version: MINIO_VERSION, binary: path.join(binDir, 'minio') },
  'fake-gcs-server': {
    module: FAKE_GCS_MODULE,
    version: FAKE_GCS_VERSION,
    binary: path.join(binDir, 'fake-gcs-server'),
  },
};

export const INSTALL_HINT = 'run `node tools/test-servers/install.js` from the repository root';

export function stampPath(name) {
  return path.join(stampDir, `${name}.json`);
}

/** The stamp install.js wrote for `name`, or undefined. */
export function readStamp(name) {
  const file = stampPath(name);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

export function venvPython() {
  return path.join(venvDir, 'bin', 'python');
}
