/**
 * Names the storage operation a request performs, so fault rules can say "UploadPart" instead of
 * spelling out method + query. Each dialect follows its service's REST API as the Strata backends
 * use it against the loopback servers (path-style S3, Azurite's `/account/container/blob`, GCS JSON).
 */
export type Dialect = 's3' | 'gcs' | 'azure' | 'generic';

export interface RequestFacts {
  method: string;
  /** Path without the query, still percent-encoded. */
  path: string;
  query: URLSearchParams;
  headers: Readonly<Record<string, string | string[] | undefined>>;
}

function segments(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

export function s3Operation({ method, path, query, headers }: RequestFacts): string {
  const [bucket, ...rest] = segments(path);
  const copy = headers['x-amz-copy-source'] !== undefined;
  if (!bucket) return method === 'GET' ? 'ListBuckets' : `${method}Service`;
  if (rest.length === 0) {
    if (method === 'GET' && query.has('uploads')) return 'ListMultipartUploads';
    if (method === 'GET' && query.has('location')) return 'GetBucketLocation';
    if (method === 'GET') return 'ListObjects';
    if (method === 'HEAD') return 'HeadBucket';
    if (method === 'PUT') return 'CreateBucket';
    if (method === 'DELETE') return 'DeleteBucket';
    if (method === 'POST' && query.has('delete')) return 'DeleteObjects';
    return `${method}Bucket`;
  }
  const uploadId = query.has('uploadId');
  switch (method) {
    case 'PUT':
      if (uploadId && query.has('partNumber')) return copy ? 'UploadPartCopy' : 'UploadPart';
      return copy ? 'CopyObject' : 'PutObject';
    case 'POST':
      if (query.has('uploads')) return 'CreateMultipartUpload';
      if (uploadId) return 'CompleteMultipartUpload';
      return 'PostObject';
    case 'DELETE':
      return uploadId ? 'AbortMultipartUpload' : 'DeleteObject';
    case 'GET':
      return uploadId ? 'ListParts' : 'GetObject';
    case 'HEAD':
      return 'HeadObject';
    default:
      return `${method}Object`;
  }
}

export function azureOperation({ method, path, query, headers }: RequestFacts): string {
  // Azurite: /<account>/<container>/<blob...>
  const [, container, ...blob] = segments(path);
  const comp = query.get('comp');
  const restype = query.get('restype');
  if (!container) return comp === 'list' ? 'ListContainers' : `${method}Service`;
  if (blob.length === 0 || restype === 'container') {
    if (comp === 'batch') return 'BlobBatch';
    if (comp === 'list') return 'ListBlobs';
    if (method === 'PUT') return 'CreateContainer';
    if (method === 'DELETE') return 'DeleteContainer';
    if (method === 'GET' || method === 'HEAD') return 'GetContainerProperties';
    return `${method}Container`;
  }
  if (method === 'PUT') {
    if (comp === 'block') return 'StageBlock';
    if (comp === 'blocklist') return 'CommitBlockList';
    if (comp === 'metadata') return 'SetBlobMetadata';
    if (comp === 'properties') return 'SetBlobProperties';
    if (headers['x-ms-copy-source'] !== undefined) return headers['x-ms-requires-sync'] ? 'SyncCopyFromURL' : 'StartCopyFromURL';
    return 'PutBlob';
  }
  if (method === 'GET') return comp === 'blocklist' ? 'GetBlockList' : 'Download';
  if (method === 'HEAD') return 'GetBlobProperties';
  if (method === 'DELETE') return 'DeleteBlob';
  return `${method}Blob`;
}

export function gcsOperation({ method, path, query }: RequestFacts): string {
  const s = segments(path);
  if (s[0] === 'upload' || query.has('upload_id')) {
    if (query.has('upload_id') || s.includes('resumable')) {
      if (method === 'PUT' || method === 'POST') {
        return query.get('uploadType') === 'resumable' && !query.has('upload_id') ? 'StartResumable' : 'ResumableChunk';
      }
      if (method === 'DELETE') return 'CancelResumable';
      return `${method}Resumable`;
    }
    if (query.get('uploadType') === 'resumable') return 'StartResumable';
    return 'InsertObject';
  }
  if (s[0] === 'download') return 'Download';
  // /storage/v1/b[/bucket[/o[/object[/rewriteTo|copyTo/...]]]]
  const api = s[0] === 'storage' && s[1] === 'v1' ? s.slice(2) : s;
  if (api[0] !== 'b') return `${method}Other`;
  if (api.length === 1) return method === 'POST' ? 'CreateBucket' : 'ListBuckets';
  if (api.length === 2) return method === 'DELETE' ? 'DeleteBucket' : method === 'GET' ? 'GetBucket' : `${method}Bucket`;
  if (api.length === 3) return method === 'GET' ? 'ListObjects' : `${method}Objects`;
  if (api.includes('rewriteTo')) return 'RewriteObject';
  if (api.includes('copyTo')) return 'CopyObject';
  if (api.includes('compose')) return 'ComposeObject';
  if (method === 'GET') return query.get('alt') === 'media' ? 'Download' : 'GetObject';
  if (method === 'DELETE') return 'DeleteObject';
  if (method === 'PATCH' || method === 'PUT') return 'PatchObject';
  return `${method}Object`;
}

export function operationOf(dialect: Dialect, facts: RequestFacts): string {
  switch (dialect) {
    case 's3':
      return s3Operation(facts);
    case 'azure':
      return azureOperation(facts);
    case 'gcs':
      return gcsOperation(facts);
    default:
      return facts.method;
  }
}

/** A body that each service's SDK parses as its own error answer. */
export function errorBody(dialect: Dialect, status: number, code: string, message: string): { contentType: string; body: string; headers: Record<string, string> } {
  switch (dialect) {
    case 's3':
      return {
        contentType: 'application/xml',
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>strata-fault</RequestId></Error>`,
        headers: {},
      };
    case 'azure':
      return {
        contentType: 'application/xml',
        body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
        headers: { 'x-ms-error-code': code, 'x-ms-request-id': 'strata-fault' },
      };
    case 'gcs':
      return {
        contentType: 'application/json; charset=UTF-8',
        body: JSON.stringify({ error: { code: status, message, errors: [{ reason: code, message }] } }),
        headers: {},
      };
    default:
      return { contentType: 'text/plain', body: `${code}: ${message}`, headers: {} };
  }
}

/** The code a service uses for a plain 500 / 503 answer. */
export function serverErrorCode(dialect: Dialect, status: number): string {
  if (dialect === 's3') return status === 503 ? 'ServiceUnavailable' : 'InternalError';
  if (dialect === 'azure') return status === 503 ? 'ServerBusy' : 'InternalError';
  if (dialect === 'gcs') return status === 503 ? 'backendError' : 'internalError';
  return status === 503 ? 'ServiceUnavailable' : 'InternalError';
}
