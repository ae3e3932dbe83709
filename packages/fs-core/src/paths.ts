import { InvalidPathError } from './errors.js';

/** Splits an object-store path `bucket/key/parts` into bucket and key ('' for the bucket root). */
export function splitBucketPath(path: string, protocol?: string): { bucket: string; key: string } {
  const slash = path.indexOf('/');
  const bucket = slash === -1 ? path : path.slice(0, slash);
  const key = slash === -1 ? '' : path.slice(slash + 1);
  if (!bucket) throw new InvalidPathError({ path, protocol }, `Path has no bucket: ${protocol ? `${protocol}://` : ''}${path}`);
  return { bucket, key };
}
