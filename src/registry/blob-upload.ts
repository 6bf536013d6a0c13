/**
 * Blob uploads (distribution-spec "Pushing blobs"): POST opens an upload session (202 and its
 * Location, relative or absolute, perhaps with query parameters of its own: `digest=` is added
 * to it, the rest kept as sent), then one PUT streams the whole blob with its Content-Length.
 * When the registry (or a proxy before it) refuses a body that large (413), or the caller asks
 * for chunks, the bytes go as PATCHes with `Content-Range: start-end` and a final empty PUT; a
 * chunk that fails is resumed where the registry says the session stands (GET of the Location,
 * its `Range: 0-N`). A monolithic PUT that fails starts a new session: the registry may have
 * kept part of the failed body.
 */
import { Readable, Transform } from 'node:stream';
import { ShibafuError } from '../errors.js';
import type { Digest } from '../ids.js';
import { drain, header, type HttpResponse } from './http-transport.js';
import { repositoryScope } from './registry-auth.js';
import type { RegistryCall, RegistryRequester } from './registry-call.js';
import { backoff, isRetryableError, isRetryableStatus, retryDelay, type RetryOptions } from './retry-policy.js';

export interface UploadProgress {
  /** Bytes sent in the current try (a new try starts again from where the registry stands). */
  readonly bytes: number;
  readonly total: number;
}

export interface UploadBlobOptions {
  readonly onProgress?: (progress: UploadProgress) => void;
  /** Send the blob as PATCHes of this many bytes instead of one PUT. */
  readonly chunkSize?: number;
  readonly signal?: AbortSignal | undefined;
}

interface UploadTarget extends UploadBlobOptions {
  readonly repository: string;
  readonly digest: Digest;
  readonly size: number;
  readonly open: (offset: number) => Readable | Promise<Readable>;
  readonly retry: RetryOptions;
}

/** Chunks after a 413 when the caller named no size: small enough for common proxy limits. */
const FALLBACK_CHUNK = 8 * 1024 * 1024;

/** A failure after which a new try may succeed. */
class Retryable extends Error {
  constructor(readonly inner: ShibafuError) { super(inner.message); }
}

/**
 * @example
 * await uploadBlob(client, { repository: 'a', digest, size, open: () => createReadStream(p), retry: DEFAULT_RETRY });
 */
export async function uploadBlob(requester: RegistryRequester, t: UploadTarget): Promise<void> {
  const context = { action: 'push blob', object: `${requester.registry}/${t.repository}@${t.digest}`, kind: 'blob' } as const;
  const scopes = [repositoryScope(t.repository, ['pull', 'push'])];
  let chunkSize = t.chunkSize;
  for (let attempt = 1; ; attempt++) {
    try {
      const location = await startUpload(requester, t, scopes, context);
      if (chunkSize === undefined) {
        const done = await putWhole(requester, t, location, scopes, context);
        if (done) return;
        chunkSize = FALLBACK_CHUNK;
        continue;
      }
      await sendChunks(requester, t, location, chunkSize, scopes, context);
      return;
    } catch (err) {
      if (!(err instanceof Retryable)) throw err;
      const delay = retryDelay(attempt, t.retry, null);
      if (delay === null) throw err.inner;
      await backoff(delay, t.signal);
    }
  }
}

/**
 * Mounts `digest` from another repository of the registry: true on 201; on 202 (not mounted)
 * the session the registry opened instead is cancelled and false returned.
 *
 * @example
 * await mountBlob(client, { repository: 'team/app', digest, fromRepository: 'team/base' })
 */
export async function mountBlob(requester: RegistryRequester, t: { repository: string; digest: Digest; fromRepository: string; signal?: AbortSignal | undefined }): Promise<boolean> {
  const context = { action: 'mount blob', object: `${requester.registry}/${t.repository}@${t.digest} from ${t.fromRepository}`, kind: 'blob' } as const;
  const scopes = [repositoryScope(t.repository, ['pull', 'push']), repositoryScope(t.fromRepository, ['pull'])];
  const query = `mount=${encodeURIComponent(t.digest)}&from=${encodeURIComponent(t.fromRepository)}`;
  const location = await requester.call({ method: 'POST', url: `/v2/${t.repository}/blobs/uploads/?${query}`, scopes, headers: { 'content-length': '0' }, signal: t.signal, context }, async (res, url) => {
    if (res.status !== 201 && res.status !== 202) throw await requester.fail(res, context);
    drain(res.body);
    return res.status === 201 ? null : locationOf(res, url, context);
  });
  if (location === null) return true;
  // Best effort: an abandoned session only costs the registry a file until its purge.
  await requester.call({ method: 'DELETE', url: location, scopes, retry: false, signal: t.signal, context }, async (res) => drain(res.body)).catch(() => {});
  return false;
}

async function startUpload(requester: RegistryRequester, t: UploadTarget, scopes: string[], context: RegistryCall['context']): Promise<URL> {
  return requester.call({ method: 'POST', url: `/v2/${t.repository}/blobs/uploads/`, scopes, headers: { 'content-length': '0' }, signal: t.signal, context }, async (res, url) => {
    if (res.status !== 202) throw await requester.fail(res, context);
    drain(res.body);
    return locationOf(res, url, context);
  });
}

/** One PUT of the whole blob; false when the registry refuses its size (413: send chunks). */
async function putWhole(requester: RegistryRequester, t: UploadTarget, location: URL, scopes: string[], context: RegistryCall['context']): Promise<boolean> {
  const url = withDigest(location, t.digest);
  return send(requester, {
    method: 'PUT', url, scopes, retry: false, signal: t.signal, context,
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(t.size) },
    body: async () => counted(await t.open(0), 0, t.size, t, context.object),
  }, async (res) => {
    if (res.status === 413) {
      drain(res.body);
      return false;
    }
    await finished(requester, res, t, context);
    return true;
  });
}

async function sendChunks(requester: RegistryRequester, t: UploadTarget, start: URL, chunkSize: number, scopes: string[], context: RegistryCall['context']): Promise<void> {
  let location = start;
  let position = 0;
  let failures = 0;
  while (position < t.size) {
    const source = await t.open(position);
    try {
      while (position < t.size) {
        const length = Math.min(chunkSize, t.size - position);
        const from = position;
        const next = await send(requester, {
          method: 'PATCH', url: location, scopes, retry: false, signal: t.signal, context,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${from}-${from + length - 1}` },
          body: once(() => counted(take(source, length), from, from + length, t, context.object), context),
        }, async (res, url) => {
          if (res.status !== 202 && res.status !== 204) throw await requester.fail(res, context);
          drain(res.body);
          return locationOf(res, url, context);
        });
        location = next;
        position = from + length;
        failures = 0;
      }
    } catch (err) {
      source.destroy();
      if (!(err instanceof Retryable)) throw err;
      const delay = retryDelay(++failures, t.retry, null);
      if (delay === null) throw err.inner;
      await backoff(delay, t.signal);
      // Where the session stands now: the registry may have taken part of the failed chunk.
      ({ location, position } = await uploadStatus(requester, location, scopes, t.signal, context));
    }
  }
  await send(requester, { method: 'PUT', url: withDigest(location, t.digest), scopes, retry: false, signal: t.signal, context, headers: { 'content-length': '0' }, body: Buffer.alloc(0) },
    async (res) => finished(requester, res, t, context));
}

async function uploadStatus(requester: RegistryRequester, location: URL, scopes: string[], signal: AbortSignal | undefined, context: RegistryCall['context']): Promise<{ location: URL; position: number }> {
  return requester.call({ method: 'GET', url: location, scopes, signal, context }, async (res, url) => {
    drain(res.body);
    if (res.status !== 204 && res.status !== 202) throw new Retryable(await requester.fail(res, context));
    const range = /^(?:bytes=)?0-(\d+)$/.exec(header(res, 'range') ?? '');
    return { location: locationOf(res, url, context), position: range === null ? 0 : Number(range[1]) + 1 };
  });
}

/** The end of an upload: 201, and the digest the registry computed must be ours. */
async function finished(requester: RegistryRequester, res: HttpResponse, t: UploadTarget, context: RegistryCall['context']): Promise<void> {
  if (res.status !== 201 && res.status !== 204) {
    const err = await requester.fail(res, context);
    throw isRetryableStatus(res.status) ? new Retryable(err) : err;
  }
  drain(res.body);
  const said = header(res, 'docker-content-digest');
  if (said !== undefined && said.startsWith('sha256:') && said !== t.digest) {
    throw new ShibafuError('DIGEST_MISMATCH', `Cannot push blob ${context.object}: the registry computed ${said} over the bytes sent`, { details: { expected: t.digest, actual: said } });
  }
}

/** A call whose network failures and retryable statuses become Retryable (a new session or a resume). */
async function send<T>(requester: RegistryRequester, call: RegistryCall, consume: (res: HttpResponse, url: URL) => Promise<T>): Promise<T> {
  try {
    return await requester.call(call, async (res, url) => {
      if (isRetryableStatus(res.status)) throw new Retryable(await requester.fail(res, call.context));
      return consume(res, url);
    });
  } catch (err) {
    if (err instanceof ShibafuError && err.code === 'REGISTRY_UNREACHABLE' && isRetryableError(err.cause)) throw new Retryable(err);
    throw err;
  }
}

function locationOf(res: HttpResponse, url: URL, context: RegistryCall['context']): URL {
  const location = header(res, 'location');
  if (location === undefined || location === '') {
    throw new ShibafuError('REGISTRY_ERROR', `Cannot ${context.action} ${context.object}: the registry gave no upload Location (HTTP ${res.status})`);
  }
  return new URL(location, url);
}

/** The session URL with `digest=` added; its own query (session state) kept byte for byte. */
function withDigest(location: URL, digest: Digest): URL {
  return new URL(`${location.href}${location.search === '' ? '?' : '&'}digest=${encodeURIComponent(digest)}`);
}

/**
 * A chunk's body can be sent once: its bytes come out of the shared source. A second try (after
 * a 401 the auth answered) goes through the resume instead, from where the registry stands.
 */
function once(open: () => Readable, context: RegistryCall['context']): () => Readable {
  let used = false;
  return () => {
    if (used) throw new Retryable(new ShibafuError('REGISTRY_ERROR', `Cannot ${context.action} ${context.object}: a chunk was refused and must be sent again`));
    used = true;
    return open();
  };
}

/** Exactly `length` bytes from a stream that goes on (the next chunk's bytes stay in it). */
function take(source: Readable, length: number): Readable {
  return Readable.from((async function* () {
    let need = length;
    while (need > 0) {
      const chunk = source.read() as Buffer | null;
      if (chunk === null) {
        if (source.readableEnded || source.destroyed) break;
        await new Promise<void>((resolve, reject) => {
          const done = (): void => { source.off('readable', done); source.off('end', done); source.off('error', fail); resolve(); };
          const fail = (err: Error): void => { source.off('readable', done); source.off('end', done); reject(err); };
          source.once('readable', done).once('end', done).once('error', fail);
        });
        continue;
      }
      if (chunk.length > need) {
        source.unshift(chunk.subarray(need));
        yield chunk.subarray(0, need);
        need = 0;
      } else {
        need -= chunk.length;
        yield chunk;
      }
    }
  })(), { objectMode: false });
}

/**
 * The bytes on their way, counted for onProgress and checked: a source that gives more or fewer
 * bytes than the request's Content-Length must fail the request, not leave the registry
 * waiting for the rest (or take what belongs to the next request).
 */
function counted(source: Readable, from: number, until: number, t: UploadTarget, object: string): Readable {
  let sent = from;
  const out = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      sent += chunk.length;
      if (sent > until) return cb(sourceSizeError(object, `more bytes than the ${t.size} of the blob`));
      t.onProgress?.({ bytes: sent, total: t.size });
      cb(null, chunk);
    },
    flush(cb) {
      cb(sent < until ? sourceSizeError(object, `${sent} bytes, fewer than the ${t.size} of the blob`) : null);
    },
  });
  source.on('error', (err) => out.destroy(err));
  return source.pipe(out);
}

function sourceSizeError(object: string, what: string): ShibafuError {
  return new ShibafuError('DIGEST_MISMATCH', `Cannot push blob ${object}: its source gave ${what}`, { hint: 'The local copy of the blob does not match its descriptor.' });
}
