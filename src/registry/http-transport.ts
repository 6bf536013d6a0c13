/**
 * The one port through which the registry client talks HTTP: one request, one response, no
 * redirects, retries or auth (registry-client.ts decides those). The Node implementation keeps
 * connections alive per scheme, verifies TLS unless told not to, and destroys a connection that
 * stays silent for `idleTimeoutMs` (ETIMEDOUT) so a stalled download is retried, not waited on.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';

export interface HttpRequest {
  readonly method: HttpMethod;
  readonly url: URL;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes, or a stream sent as it comes (set Content-Length in `headers` for a stream). */
  readonly body?: Buffer | Readable;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  readonly status: number;
  /** Header names in lower case, as node:http gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body; read it to the end or destroy it, so the connection is freed. */
  readonly body: Readable;
}

/** Sends one HTTP request. */
export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
  /** Closes idle kept-alive connections. */
  close(): void;
}

export interface NodeHttpOptions {
  /** Verify the server's certificate (default true). */
  readonly tlsVerify?: boolean;
  /** Destroy a connection after this long without a byte either way (default 60 s). */
  readonly idleTimeoutMs?: number;
}

const DEFAULT_IDLE_MS = 60_000;

/**
 * HTTP and HTTPS through node:http and node:https.
 *
 * @example
 * const transport = nodeHttpTransport({ tlsVerify: false });
 * const res = await transport.send({ method: 'GET', url: new URL('http://127.0.0.1:5000/v2/') });
 * res.body.resume();
 */
export function nodeHttpTransport(options: NodeHttpOptions = {}): HttpTransport {
  const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_MS;
  const agents = {
    'http:': new http.Agent({ keepAlive: true }),
    'https:': new https.Agent({ keepAlive: true, rejectUnauthorized: options.tlsVerify !== false }),
  };
  return {
    send: (request) => send(request, agents, idle),
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}

function send(request: HttpRequest, agents: { 'http:': http.Agent; 'https:': https.Agent }, idleMs: number): Promise<HttpResponse> {
  const { url } = request;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(Object.assign(new Error(`unsupported URL scheme ${url.protocol}`), { code: 'ERR_INVALID_URL_SCHEME' }));
  }
  const mod = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { ...request.headers };
  if (Buffer.isBuffer(request.body)) headers['content-length'] = String(request.body.length);
  return new Promise((resolve, reject) => {
    const req = mod.request(url, {
      method: request.method,
      headers,
      agent: agents[url.protocol as 'http:' | 'https:'],
      ...(request.signal !== undefined ? { signal: request.signal } : {}),
    });
    req.setTimeout(idleMs, () => {
      req.destroy(Object.assign(new Error(`no data for ${idleMs / 1000} s`), { code: 'ETIMEDOUT' }));
    });
    req.on('error', reject);
    const body = request.body;
    req.on('response', (res) => {
      if (body !== undefined && !Buffer.isBuffer(body)) {
        // An answer before the whole body was sent (a 401, a 413) ends the request: the rest of
        // the body is dropped, and the connection, which cannot carry another request, closed.
        res.once('end', () => {
          if (!req.writableFinished) {
            body.destroy();
            req.destroy();
          }
        });
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      // A failing source must fail the request, not leave it waiting for the rest of the body.
      body.on('error', (err) => req.destroy(err));
      body.pipe(req);
    }
  });
}

/**
 * Reads a response body to the end, refusing more than `max` bytes (the rest is not read).
 *
 * @example
 * const bytes = await readBody(res.body, 4 << 20);
 */
export async function readBody(body: Readable, max: number): Promise<Buffer | 'too-large'> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) {
      body.destroy();
      return 'too-large';
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, n);
}

/**
 * Throws a response body away (so the kept-alive connection can serve the next request).
 *
 * @example
 * drain(res.body);
 */
export function drain(body: Readable): void {
  body.on('error', () => {});
  body.resume();
}

/**
 * One header's value (the first, when it was sent several times).
 *
 * @example
 * header(res, 'docker-content-digest')
 */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
