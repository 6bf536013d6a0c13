/**
 * A registry's refusal or a network failure as a catalog error. The distribution spec's error
 * body (`{"errors":[{"code","message","detail"}]}`) names what went wrong more precisely than the
 * status; both are kept in the message and in `details`. Pure.
 */
import { errnoCode, ShibafuError, type ErrorCode } from '../errors.js';

/** What the failed request was for, to say so in the message. */
export interface RegistryErrorContext {
  /** `fetch manifest`, `push blob`, `log in to`... */
  readonly action: string;
  /** The reference, blob or registry acted on, as the user would name it. */
  readonly object: string;
  readonly registry: string;
  /** Which 404 this would be. */
  readonly kind: 'manifest' | 'blob' | 'other';
  /** The user name the request was sent with, or null when it went without credentials. */
  readonly username: string | null;
  /** Credentials found but not usable (credential helpers...), for the hint of a 401. */
  readonly unusable?: readonly string[];
}

/** One entry of a distribution error body. */
export interface RegistryErrorEntry {
  readonly code: string;
  readonly message: string;
}

/**
 * The entries of a distribution error body; none when it is not one.
 *
 * @example
 * parseErrorBody(Buffer.from('{"errors":[{"code":"DENIED","message":"no"}]}')) // [{ code: 'DENIED', message: 'no' }]
 */
export function parseErrorBody(body: Buffer | null): RegistryErrorEntry[] {
  if (body === null || body.length === 0) return [];
  try {
    const json = JSON.parse(body.toString('utf8')) as { errors?: unknown };
    if (!Array.isArray(json.errors)) return [];
    return json.errors.filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null).map((e) => ({
      code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
      message: typeof e.message === 'string' ? e.message : '',
    }));
  } catch {
    return [];
  }
}

/**
 * The error for a response the caller did not expect.
 *
 * @example
 * registryError(404, body, { action: 'fetch manifest', object: 'localhost:5000/a:t', registry: 'localhost:5000', kind: 'manifest', username: null })
 * // MANIFEST_UNKNOWN: Cannot fetch manifest localhost:5000/a:t: the registry has no such manifest (MANIFEST_UNKNOWN: manifest unknown; HTTP 404)
 */
export function registryError(status: number, body: Buffer | null, ctx: RegistryErrorContext): ShibafuError {
  const entries = parseErrorBody(body);
  const said = entries.length === 0 ? `HTTP ${status}` : `${entries.map((e) => `${e.code}: ${e.message}`).join('; ')}; HTTP ${status}`;
  const codes = new Set(entries.map((e) => e.code));
  const details = { status, registry: ctx.registry, errors: entries };
  const make = (code: ErrorCode, state: string, hint?: string): ShibafuError =>
    new ShibafuError(code, `Cannot ${ctx.action} ${ctx.object}: ${state} (${said})`, { details, ...(hint === undefined ? {} : { hint }) });

  if (status === 401 || codes.has('UNAUTHORIZED')) {
    if (ctx.username === null) {
      const helpers = ctx.unusable !== undefined && ctx.unusable.length > 0 ? ` (${ctx.unusable.join('; ')})` : '';
      return make('REGISTRY_UNAUTHORIZED', 'the registry wants credentials and none were found',
        `Log in first: shibafu login ${ctx.registry}${helpers}`);
    }
    return make('REGISTRY_UNAUTHORIZED', `the registry refused the credentials of user "${ctx.username}"`,
      `Check the user name and password: shibafu login ${ctx.registry}`);
  }
  if (status === 403 || codes.has('DENIED')) {
    return make('REGISTRY_DENIED', ctx.username === null ? 'access denied to anonymous users' : `access denied to user "${ctx.username}"`,
      ctx.username === null ? `Log in with an account that has access: shibafu login ${ctx.registry}` : 'The account has no right to do this on that repository.');
  }
  if (ctx.kind === 'manifest' && (status === 404 || codes.has('MANIFEST_UNKNOWN') || codes.has('NAME_UNKNOWN'))) {
    return make('MANIFEST_UNKNOWN', codes.has('NAME_UNKNOWN') ? 'the registry has no such repository' : 'the registry has no such manifest');
  }
  if (ctx.kind === 'blob' && (status === 404 || codes.has('BLOB_UNKNOWN') || codes.has('NAME_UNKNOWN'))) {
    return make('BLOB_UNKNOWN', codes.has('NAME_UNKNOWN') ? 'the registry has no such repository' : 'the registry has no such blob');
  }
  if (codes.has('DIGEST_INVALID')) {
    return make('DIGEST_MISMATCH', 'the registry found that the bytes sent do not match the digest', 'The local copy of the content does not match its digest.');
  }
  if (status === 429 || codes.has('TOOMANYREQUESTS')) {
    return make('REGISTRY_ERROR', 'the registry still refuses: too many requests', 'Wait a while, or log in (registries give logged-in users more requests).');
  }
  return make('REGISTRY_ERROR', status >= 500 ? 'the registry failed' : 'the registry refused the request');
}

const TLS_CODES = /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$|HOSTNAME_MISMATCH)/;
const PLAIN: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  ETIMEDOUT: 'timed out',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/** A short cause: OpenSSL's messages run over several lines of library internals. */
function describeCause(err: unknown, code: string): string {
  const text = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
  if (/wrong version number|packet length too long|http request/i.test(text)) return 'the TLS handshake failed: it does not speak TLS (plain HTTP?)';
  if (TLS_CODES.test(code)) return `the TLS handshake failed: ${text.replace(/^.*routines:[^:]*:/, '').replace(/:.*$/, '')}`;
  return PLAIN[code] ?? text;
}

/**
 * The error for a request that got no (complete) answer after the retries.
 *
 * @example
 * unreachableError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), ctx)
 * // REGISTRY_UNREACHABLE: Cannot fetch manifest localhost:5000/a:t: no answer from localhost:5000: connection refused (ECONNREFUSED)
 */
export function unreachableError(err: unknown, ctx: Pick<RegistryErrorContext, 'action' | 'object' | 'registry'>): ShibafuError {
  if (err instanceof ShibafuError) return err;
  const code = errnoCode(err) ?? 'ERROR';
  const tls = TLS_CODES.test(code);
  const hint = tls
    ? `For a registry with a self-signed certificate or plain HTTP, add --tls-verify=false.`
    : code === 'ECONNREFUSED' || code === 'ENOTFOUND'
      ? `Check the registry's name and port, and that it runs (${ctx.registry}).`
      : 'The connection failed after several tries; try again later.';
  return new ShibafuError('REGISTRY_UNREACHABLE', `Cannot ${ctx.action} ${ctx.object}: no answer from ${ctx.registry}: ${describeCause(err, code)} (${code})`, {
    hint, cause: err, details: { registry: ctx.registry, code },
  });
}

/**
 * What a failed request throws: the signal's reason when it was aborted (an AbortError, which
 * the CLI reports as an interruption), REGISTRY_UNREACHABLE for a network failure, else the
 * error as it is (ours, or a bug).
 *
 * @example
 * throw requestFailure(err, signal, { action: 'fetch blob', object, registry });
 */
export function requestFailure(err: unknown, signal: AbortSignal | undefined, ctx: Pick<RegistryErrorContext, 'action' | 'object' | 'registry'>): unknown {
  if (signal?.aborted === true) return signal.reason ?? err;
  if (err instanceof ShibafuError || errnoCode(err) === undefined) return err;
  return unreachableError(err, ctx);
}
