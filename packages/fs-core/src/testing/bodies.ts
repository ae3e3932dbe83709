import { PassThrough } from 'node:stream';

/** A response body for adapter tests: sends `chunks` on the next turn, then ends (or fails with `error`). */
export function scriptedBody(chunks: Uint8Array[], error?: Error): PassThrough {
  const stream = new PassThrough();
  setImmediate(() => {
    for (const chunk of chunks) stream.write(chunk);
    if (error) stream.destroy(error);
    else stream.end();
  });
  return stream;
}
