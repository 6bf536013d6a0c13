/**
 * An HTTP proxy in front of a test registry that injects faults: it records every request
 * (method, path, headers) and, as the test's rule says, answers a status itself (503, 429 with
 * Retry-After, 413), redirects elsewhere, forwards the registry's answer and cuts the
 * connection after N bytes of its body (or stalls there), flips a byte of it, or drops the
 * request's Range. The Host header is forwarded as the client sent it, so
 * the registry's upload Locations point at the proxy.
 */
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

export type Fault =
  | { readonly kind: 'status'; readonly status: number; readonly headers?: Readonly<Record<string, string>>; readonly body?: string }
  | { readonly kind: 'cut'; readonly afterBytes: number }
  /** Forward N bytes of the body, then nothing more, the connection left open (a stalled transfer). */
  | { readonly kind: 'stall'; readonly afterBytes: number }
  /** Forward without the Range header (a registry or cache that ignores Range and answers 200). */
  | { readonly kind: 'ignore-range' }
  /** Forward, with the body's byte at this offset flipped. */
  | { readonly kind: 'tamper'; readonly atByte: number }
  | { readonly kind: 'redirect'; readonly location: string; readonly status?: number };

/** The rule: the fault for a request (its index counts from 0 over the proxy's life), or none. */
export type FaultRule = (req: RecordedRequest, index: number) => Fault | undefined;

export interface FaultProxy {
  readonly host: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  rule: FaultRule;
  close(): Promise<void>;
}

/**
 * @example
 * const proxy = await startFaultProxy(reg.port, (r) => r.method === 'GET' && r.path.includes('/blobs/') ? { kind: 'cut', afterBytes: 1000 } : undefined);
 */
export async function startFaultProxy(targetPort: number, rule: FaultRule = () => undefined): Promise<FaultProxy> {
  const requests: RecordedRequest[] = [];
  const state = { rule };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const rec: RecordedRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers };
    const index = requests.length;
    requests.push(rec);
    const fault = state.rule(rec, index);
    if (fault?.kind === 'status') {
      req.resume();
      res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body ?? '');
      return;
    }
    if (fault?.kind === 'redirect') {
      req.resume();
      res.writeHead(fault.status ?? 307, { location: fault.location, 'content-length': '0' }).end();
      return;
    }
    const headers = { ...req.headers };
    if (fault?.kind === 'ignore-range') delete headers.range;
    const up = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (fault?.kind === 'tamper') {
        let at = 0;
        upRes.on('data', (chunk: Buffer) => {
          const c = Buffer.from(chunk);
          const i = fault.atByte - at;
          if (i >= 0 && i < c.length) c[i] = (c[i] as number) ^ 0xff;
          at += c.length;
          res.write(c);
        });
        upRes.on('end', () => res.end());
        return;
      }
      if (fault?.kind === 'stall') {
        let given = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (given >= fault.afterBytes) return;
          const part = chunk.subarray(0, fault.afterBytes - given);
          given += part.length;
          res.write(part);
        });
        return;
      }
      if (fault?.kind !== 'cut') {
        upRes.pipe(res);
        return;
      }
      let sent = 0;
      const cut = (): void => {
        // Flush what was written, then drop the connection mid-body.
        res.socket?.end(() => res.socket?.destroy());
        upRes.destroy();
      };
      if (fault.afterBytes === 0) {
        res.flushHeaders();
        cut();
        return;
      }
      upRes.on('data', (chunk: Buffer) => {
        if (sent >= fault.afterBytes) return;
        const part = chunk.subarray(0, fault.afterBytes - sent);
        sent += part.length;
        res.write(part);
        if (sent >= fault.afterBytes) cut();
      });
      upRes.on('end', () => { if (sent < fault.afterBytes) res.end(); });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    get rule() { return state.rule; },
    set rule(r: FaultRule) { state.rule = r; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
