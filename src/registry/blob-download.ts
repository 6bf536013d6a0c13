/**
 * A blob's bytes as one stream over as many HTTP responses as it takes: when a connection drops
 * mid-blob, the next request asks `Range: bytes=N-` for the rest (N = the bytes already given).
 * A 206 must start at N (Content-Range); a registry that ignores Range answers 200 with the
 * whole blob, and the first N bytes are skipped. Each cut without progress counts as a failed
 * try (backoff, as for any request); bytes received reset the count, so a long download over a
 * flaky link goes on as long as it advances.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';
import { header, type HttpResponse } from './http-transport.js';
import { repositoryScope } from './registry-auth.js';
import type { RegistryRequester } from './registry-call.js';
import { requestFailure, unreachableError } from './registry-error.js';
import { backoff, isRetryableError, retryDelay, type RetryOptions } from './retry-policy.js';

export interface OpenBlobOptions {
  /** Where to start: the bytes before it are held already (a partial download kept for a resume). */
  readonly offset?: number;
  /** The size the descriptor gives: a registry that disagrees is refused, and a short body resumed. */
  readonly size?: number;
  /** Hash the bytes and fail at the end if they are not `digest` (default: when offset is 0). */
  readonly verify?: boolean;
  readonly signal?: AbortSignal | undefined;
}

interface BlobTarget extends OpenBlobOptions {
  readonly repository: string;
  readonly digest: Digest;
  readonly retry: RetryOptions;
}

/**
 * @example
 * const stream = openBlobStream(client, { repository: 'a', digest, size, retry: DEFAULT_RETRY });
 */
export function openBlobStream(requester: RegistryRequester, target: BlobTarget): Readable {
  return Readable.from(blobChunks(requester, target), { objectMode: false });
}

async function* blobChunks(requester: RegistryRequester, t: BlobTarget): AsyncGenerator<Buffer> {
  const context = { action: 'fetch blob', object: `${requester.registry}/${t.repository}@${t.digest}`, kind: 'blob' } as const;
  const start = t.offset ?? 0;
  const hash: Hash | null = (t.verify ?? start === 0) && start === 0 ? createHash('sha256') : null;
  let position = start;
  let total: number | undefined = t.size;
  let failures = 0;
  while (total === undefined || position < total) {
    const res = await requester.call({
      method: 'GET', url: `/v2/${t.repository}/blobs/${t.digest}`, scopes: [repositoryScope(t.repository, ['pull'])],
      headers: position > 0 ? { range: `bytes=${position}-` } : {}, signal: t.signal, context,
    }, async (r) => {
      if (r.status === 200 || (r.status === 206 && position > 0)) return r;
      throw await requester.fail(r, context);
    });
    const given = position;
    let skip = 0;
    try {
      const span = spanOf(res, position, context.object);
      skip = span.skip;
      if (span.total !== undefined) {
        if (total !== undefined && span.total !== total) {
          throw new ShibafuError('DIGEST_MISMATCH', `Cannot fetch blob ${context.object}: the registry says it has ${span.total} bytes, its descriptor ${total}`, {
            details: { expected: total, actual: span.total },
          });
        }
        total = span.total;
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        let c = chunk;
        if (skip > 0) {
          const n = Math.min(skip, c.length);
          skip -= n;
          c = c.subarray(n);
          if (c.length === 0) continue;
        }
        if (total !== undefined && position + c.length > total) {
          throw new ShibafuError('DIGEST_MISMATCH', `Cannot fetch blob ${context.object}: the registry sent more than its ${total} bytes`, { details: { expected: total } });
        }
        hash?.update(c);
        position += c.length;
        yield c;
      }
      if (total === undefined) total = position;
      if (position < total) throw Object.assign(new Error(`the body ended after ${position} of ${total} bytes`), { code: 'ESHORTBODY' });
    } catch (err) {
      res.body.destroy();
      if (err instanceof ShibafuError || t.signal?.aborted === true || !isRetryableError(err)) throw requestFailure(err, t.signal, { ...context, registry: requester.registry });
      failures = position > given ? 1 : failures + 1;
      const delay = retryDelay(failures, t.retry, null);
      if (delay === null) {
        const e = unreachableError(err, { ...context, registry: requester.registry });
        throw new ShibafuError('REGISTRY_UNREACHABLE', `${e.message}; the connection dropped ${failures} times in a row at byte ${position}${total === undefined ? '' : ` of ${total}`}`, {
          ...(e.hint === undefined ? {} : { hint: e.hint }), cause: err, details: { ...e.details, received: position },
        });
      }
      await backoff(delay, t.signal);
    }
  }
  if (hash !== null) {
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== t.digest) {
      throw new ShibafuError('DIGEST_MISMATCH', `Cannot fetch blob ${context.object}: its bytes hash to ${got}`, {
        hint: 'The registry (or something between) served other bytes than the digest names; do not use what was received.',
        details: { expected: t.digest, actual: got, size: position },
      });
    }
  }
}

/** Where a response's body starts relative to `position`, and the blob's whole size if it says. */
function spanOf(res: HttpResponse, position: number, object: string): { skip: number; total: number | undefined } {
  if (res.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(res, 'content-range') ?? '');
    if (m === null || Number(m[1]) !== position) {
      throw new ShibafuError('REGISTRY_ERROR', `Cannot fetch blob ${object}: asked for bytes from ${position}, the registry answered Content-Range "${header(res, 'content-range') ?? ''}"`);
    }
    return { skip: 0, total: m[3] === '*' ? undefined : Number(m[3]) };
  }
  // 200: the whole blob, whatever Range asked; what was given already is skipped.
  const length = header(res, 'content-length');
  return { skip: position, total: length === undefined ? undefined : Number(length) };
}
