/**
 * The service's wire format, pure (docs/service.md). A client sends one request: the magic
 * "SHB1", the body's length (u32, host order: client and service share one machine), then
 * NUL-terminated strings. A command request is "command", cwd, argc, argv..., envc, env...,
 * with the client's descriptors 0, 1, 2 passed alongside (SCM_RIGHTS); "ping" and "stop" are the
 * kind alone. After a command request the client sends one byte per signal it receives. The
 * service answers one line: "exit N", "fallback" (run the command yourself), or "ok PID".
 */
import { ShibafuError } from '../errors.js';

export const MAGIC = 'SHB1';
const HEADER = 8;
/** A command line and environment past this are refused, not buffered. */
export const MAX_REQUEST = 4 * 1024 * 1024;

export type ServiceRequest =
  | { readonly kind: 'command'; readonly cwd: string; readonly argv: readonly string[]; readonly env: Readonly<Record<string, string>> }
  | { readonly kind: 'ping' | 'stop' };

/**
 * The request at the start of `bytes`, or 'incomplete' when more must arrive. Throws USAGE for a
 * malformed one (the service closes that connection).
 *
 * @example
 * decodeRequest(encodeRequest({ kind: 'ping' })) // { request: { kind: 'ping' }, size: 13 }
 */
export function decodeRequest(bytes: Buffer): { request: ServiceRequest; size: number } | 'incomplete' {
  if (bytes.length < HEADER) return 'incomplete';
  if (bytes.toString('latin1', 0, 4) !== MAGIC) throw malformed('it does not start with SHB1');
  const length = bytes.readUInt32LE(4);
  if (length > MAX_REQUEST) throw malformed(`it is ${length} bytes, more than ${MAX_REQUEST}`);
  if (bytes.length < HEADER + length) return 'incomplete';
  const fields = splitFields(bytes.subarray(HEADER, HEADER + length));
  const size = HEADER + length;
  const kind = fields.next();
  if (kind === 'ping' || kind === 'stop') return { request: { kind }, size };
  if (kind !== 'command') throw malformed(`unknown kind "${kind}"`);
  const cwd = fields.next();
  const argv = fields.list();
  const env: Record<string, string> = {};
  for (const entry of fields.list()) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  fields.end();
  if (!cwd.startsWith('/')) throw malformed('its working directory is not absolute');
  return { request: { kind, cwd, argv, env }, size };
}

/**
 * The bytes of a request (the Node side sends ping and stop; tests send commands).
 *
 * @example
 * socket.write(encodeRequest({ kind: 'stop' }));
 */
export function encodeRequest(request: ServiceRequest): Buffer {
  const fields = request.kind === 'command'
    ? ['command', request.cwd, String(request.argv.length), ...request.argv, String(Object.keys(request.env).length), ...Object.entries(request.env).map(([k, v]) => `${k}=${v}`)]
    : [request.kind];
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
  const header = Buffer.alloc(HEADER);
  header.write(MAGIC, 0, 'latin1');
  header.writeUInt32LE(body.length, 4);
  return Buffer.concat([header, body]);
}

/** The service's answer line. */
export type ServiceAnswer = { readonly kind: 'exit'; readonly status: number } | { readonly kind: 'fallback' } | { readonly kind: 'ok'; readonly pid: number };

export function encodeAnswer(answer: ServiceAnswer): string {
  if (answer.kind === 'exit') return `exit ${answer.status}\n`;
  return answer.kind === 'ok' ? `ok ${answer.pid}\n` : 'fallback\n';
}

/** The answer in `line` (without its newline), or null when it is none. */
export function decodeAnswer(line: string): ServiceAnswer | null {
  const m = /^(exit|ok) (\d+)$/.exec(line);
  if (m !== null) return m[1] === 'exit' ? { kind: 'exit', status: Number(m[2]) } : { kind: 'ok', pid: Number(m[2]) };
  return line === 'fallback' ? { kind: 'fallback' } : null;
}

function splitFields(body: Buffer): { next(): string; list(): string[]; end(): void } {
  let off = 0;
  const next = (): string => {
    const nul = body.indexOf(0, off);
    if (nul < 0) throw malformed('a field is not NUL-terminated');
    const field = body.toString('utf8', off, nul);
    off = nul + 1;
    return field;
  };
  const list = (): string[] => {
    const count = next();
    if (!/^\d{1,7}$/.test(count)) throw malformed(`bad count "${count}"`);
    return Array.from({ length: Number(count) }, next);
  };
  const end = (): void => { if (off !== body.length) throw malformed('it has bytes after its last field'); };
  return { next, list, end };
}

function malformed(why: string): ShibafuError {
  return new ShibafuError('USAGE', `Cannot read a service request: ${why}`);
}
