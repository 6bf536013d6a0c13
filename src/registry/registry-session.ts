/**
 * How the client talks to one registry: the scheme (HTTPS; plain HTTP only under
 * `--tls-verify=false`, when the registry does not speak TLS), its auth (registry-auth.ts),
 * redirects followed without the Authorization header when they leave the registry's origin (a
 * blob store's signed URL must not see our token), and retries with backoff on 408/429/5xx and
 * dropped connections. RegistryClient says what to ask; this says how.
 */
import type { Readable } from 'node:stream';
import { ShibafuError } from '../errors.js';
import type { RegistryCredentials } from './auth-file.js';
import { drain, header, nodeHttpTransport, readBody, type HttpResponse, type HttpTransport } from './http-transport.js';
import { registryApiHost } from './reference.js';
import { registryAuth, type RegistryAuth } from './registry-auth.js';
import type { RegistryCall, RegistryRequester } from './registry-call.js';
import { registryError, requestFailure } from './registry-error.js';
import { backoff, DEFAULT_RETRY, isRetryableError, isRetryableStatus, parseRetryAfter, retryDelay, type RetryOptions } from './retry-policy.js';

export interface RegistryClientOptions {
  /** The registry as references name it: `docker.io`, `localhost:5000`. */
  readonly registry: string;
  /** Credentials (findCredentials gives them), or null/absent for anonymous access. */
  readonly credentials?: RegistryCredentials | null;
  /** Credentials found but unusable (FoundCredentials.unusable), named in the hint of a 401. */
  readonly unusableCredentials?: readonly string[];
  /**
   * Verify TLS (default true). false (`--tls-verify=false`): HTTPS without verification, and
   * plain HTTP when the registry does not speak TLS, as podman and skopeo do.
   */
  readonly tlsVerify?: boolean;
  /** The HTTP port (default: node:http/https). */
  readonly transport?: HttpTransport;
  readonly retry?: Partial<RetryOptions>;
  /** A connection silent this long is dropped (and the request retried). Default 60 s. */
  readonly idleTimeoutMs?: number;
  readonly userAgent?: string;
}

/** What a registry's `/v2/` asks for. */
export type RegistryAuthKind = 'none' | 'basic' | 'bearer';

const ERROR_BODY_MAX = 64 * 1024;
const MAX_REDIRECTS = 10;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * @example
 * const session = new RegistrySession({ registry: 'localhost:5000', tlsVerify: false });
 * const tags = await session.call({ method: 'GET', url: '/v2/a/tags/list', scopes: ['repository:a:pull'], context }, (res) => readBody(res.body, 1 << 20));
 */
export class RegistrySession implements RegistryRequester {
  readonly registry: string;
  readonly retry: RetryOptions;
  readonly #host: string;
  readonly #tlsVerify: boolean;
  readonly #transport: HttpTransport;
  readonly #ownTransport: boolean;
  readonly #auth: RegistryAuth;
  readonly #userAgent: string;
  readonly #unusable: readonly string[];
  /** The registry's base URL and the auth its `/v2/` asked for, found once (ping). */
  #base: Promise<{ url: URL; auth: RegistryAuthKind }> | null = null;

  constructor(options: RegistryClientOptions) {
    this.registry = options.registry;
    this.#host = registryApiHost(options.registry);
    this.#tlsVerify = options.tlsVerify !== false;
    this.#ownTransport = options.transport === undefined;
    this.#transport = options.transport ?? nodeHttpTransport({ tlsVerify: this.#tlsVerify, idleTimeoutMs: options.idleTimeoutMs ?? 60_000 });
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.#userAgent = options.userAgent ?? 'shibafu';
    this.#unusable = options.unusableCredentials ?? [];
    this.#auth = registryAuth({
      credentials: options.credentials ?? null,
      registry: options.registry,
      fetchToken: (url, headers, signal) => this.call(
        { method: 'GET', url, scopes: [], headers, signal, context: { action: 'get a token for', object: options.registry, kind: 'other' } },
        async (res) => ({ status: res.status, body: await readBounded(res.body) }),
        { auth: false },
      ),
    });
  }

  /**
   * Finds how the registry answers (`/v2/`): its scheme and the auth it asks for.
   *
   * @example
   * await session.ping() // { url: 'http://127.0.0.1:5000', auth: 'bearer' }
   */
  async ping(options: { signal?: AbortSignal | undefined } = {}): Promise<{ url: string; auth: RegistryAuthKind }> {
    const base = await this.#baseUrl(options.signal);
    return { url: base.url.origin, auth: base.auth };
  }

  /** Closes kept-alive connections. */
  close(): void {
    if (this.#ownTransport) this.#transport.close();
  }

  /** See RegistryRequester.call. */
  async call<T>(call: RegistryCall, consume: (res: HttpResponse, url: URL) => Promise<T>, options: { auth?: boolean } = {}): Promise<T> {
    const withAuth = options.auth !== false;
    const base = (await this.#baseUrl(call.signal)).url;
    const url = typeof call.url === 'string' ? new URL(call.url, base) : call.url;
    const replayable = call.retry !== false;
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      const authorization = withAuth ? await this.#auth.authorization(call.scopes, call.signal) : null;
      let res: HttpResponse;
      let finalUrl: URL;
      try {
        ({ res, url: finalUrl } = await this.#follow(call, url, base, authorization));
      } catch (err) {
        const delay = replayable && isRetryableError(err) && call.signal?.aborted !== true ? retryDelay(attempt, this.retry, null) : null;
        if (delay === null) throw requestFailure(err, call.signal, { ...call.context, registry: this.registry });
        await backoff(delay, call.signal);
        continue;
      }
      if (res.status === 401 && withAuth && !authRetried && this.#auth.challenged(res.headers['www-authenticate'], call.scopes)) {
        drain(res.body);
        authRetried = true;
        attempt--;
        continue;
      }
      if (replayable && isRetryableStatus(res.status)) {
        const delay = retryDelay(attempt, this.retry, parseRetryAfter(header(res, 'retry-after'), Date.now()));
        if (delay !== null) {
          drain(res.body);
          await backoff(delay, call.signal);
          continue;
        }
      }
      try {
        return await consume(res, finalUrl);
      } catch (err) {
        res.body.destroy();
        const delay = replayable && isRetryableError(err) && call.signal?.aborted !== true ? retryDelay(attempt, this.retry, null) : null;
        if (delay === null) throw requestFailure(err, call.signal, { ...call.context, registry: this.registry });
        await backoff(delay, call.signal);
      }
    }
  }

  /** See RegistryRequester.fail. */
  async fail(res: HttpResponse, context: RegistryCall['context']): Promise<ShibafuError> {
    const body = await readBody(res.body, ERROR_BODY_MAX).catch(() => null);
    return registryError(res.status, body === 'too-large' ? null : body, {
      ...context, registry: this.registry, username: this.#auth.username, unusable: this.#unusable,
    });
  }

  /** One try: the request, and the redirects of a GET or HEAD (Authorization only to the registry's origin). */
  async #follow(call: RegistryCall, start: URL, base: URL, authorization: string | null): Promise<{ res: HttpResponse; url: URL }> {
    let url = start;
    let method = call.method;
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': this.#userAgent, ...call.headers };
      // Credentials go to the origin they were meant for, never where a redirect leads.
      if (url.origin !== start.origin) delete headers.authorization;
      if (authorization !== null && url.origin === base.origin && headers.authorization === undefined) headers.authorization = authorization;
      const body = hop > 0 || call.body === undefined ? undefined : Buffer.isBuffer(call.body) ? call.body : await call.body();
      const res = await this.#transport.send({ method, url, headers, ...(body !== undefined ? { body } : {}), signal: call.signal });
      const location = header(res, 'location');
      if (!REDIRECTS.has(res.status) || location === undefined || (method !== 'GET' && method !== 'HEAD')) return { res, url };
      drain(res.body);
      if (hop >= MAX_REDIRECTS) {
        throw new ShibafuError('REGISTRY_ERROR', `Cannot ${call.context.action} ${call.context.object}: more than ${MAX_REDIRECTS} redirects`);
      }
      url = new URL(location, url);
      if (res.status === 303) method = 'GET';
    }
  }

  #baseUrl(signal: AbortSignal | undefined): Promise<{ url: URL; auth: RegistryAuthKind }> {
    if (this.#base === null) {
      const base = this.#findBase(signal);
      this.#base = base;
      base.catch(() => { if (this.#base === base) this.#base = null; });
    }
    return this.#base;
  }

  /** HTTPS; with tlsVerify false, plain HTTP when the registry does not speak TLS. */
  async #findBase(signal: AbortSignal | undefined): Promise<{ url: URL; auth: RegistryAuthKind }> {
    const https = new URL(`https://${this.#host}`);
    if (this.#tlsVerify) return { url: https, auth: await this.#probe(https, signal, true) };
    try {
      return { url: https, auth: await this.#probe(https, signal, false) };
    } catch (err) {
      if (signal?.aborted === true) throw signal.reason ?? err;
      const http = new URL(`http://${this.#host}`);
      return { url: http, auth: await this.#probe(http, signal, true) };
    }
  }

  /** GET /v2/: 200 (no auth) or 401 (its challenge); anything else is not a registry. */
  async #probe(base: URL, signal: AbortSignal | undefined, retry: boolean): Promise<RegistryAuthKind> {
    const context = { action: 'reach registry', object: this.registry };
    for (let attempt = 1; ; attempt++) {
      let res: HttpResponse;
      try {
        res = await this.#transport.send({ method: 'GET', url: new URL('/v2/', base), headers: { 'user-agent': this.#userAgent }, signal });
      } catch (err) {
        const delay = retry && isRetryableError(err) && signal?.aborted !== true ? retryDelay(attempt, this.retry, null) : null;
        if (delay === null) throw requestFailure(err, signal, { ...context, registry: this.registry });
        await backoff(delay, signal);
        continue;
      }
      if (retry && isRetryableStatus(res.status)) {
        const delay = retryDelay(attempt, this.retry, parseRetryAfter(header(res, 'retry-after'), Date.now()));
        if (delay !== null) {
          drain(res.body);
          await backoff(delay, signal);
          continue;
        }
      }
      if (res.status === 200) {
        drain(res.body);
        return 'none';
      }
      if (res.status === 401) {
        drain(res.body);
        const www = res.headers['www-authenticate'];
        this.#auth.pinged(www);
        return /bearer/i.test(String(www)) ? 'bearer' : 'basic';
      }
      const err = await this.fail(res, { action: 'reach registry', object: this.registry, kind: 'other' });
      throw new ShibafuError(err.code, `${err.message}; ${base.origin}/v2/ is not a distribution API`, { details: err.details ?? {}, cause: err });
    }
  }
}

/** A small answer's body (a token, a tag list), refused past `max`. */
export async function readBounded(body: Readable, max = ERROR_BODY_MAX): Promise<Buffer> {
  const b = await readBody(body, max);
  if (b === 'too-large') throw new ShibafuError('REGISTRY_ERROR', `Cannot read a registry answer: it is larger than ${max} bytes`);
  return b;
}

