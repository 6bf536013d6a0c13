/**
 * The registry's authorization for each request (distribution's token flow, docs/spec/auth):
 * the challenge of a 401 says `Basic` (send the credentials) or `Bearer realm,service` (GET the
 * realm with `service` and the `scope`s, with the credentials as Basic or anonymously, and send
 * the token it gives). Tokens are kept per set of scopes until they expire (60 s when the
 * server does not say: the spec's default); concurrent requests for one scope share one fetch.
 */
import { ShibafuError } from '../errors.js';
import type { RegistryCredentials } from './auth-file.js';
import { parseWwwAuthenticate, pickChallenge, type AuthChallenge } from './www-authenticate.js';

/** `repository:NAME:ACTIONS`, the scope of a request on one repository. */
export type AuthScope = string;

/**
 * The scope of a request on a repository.
 *
 * @example
 * repositoryScope('team/app', ['pull', 'push']) // 'repository:team/app:pull,push'
 */
export function repositoryScope(repository: string, actions: readonly ('pull' | 'push')[]): AuthScope {
  return `repository:${repository}:${actions.join(',')}`;
}

/**
 * The token request for a Bearer challenge (a GET of the realm; existing query parameters kept).
 *
 * @example
 * tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth/token', service: 'reg' } }, ['repository:a:pull'], 'u').href
 * // 'https://auth/token?service=reg&scope=repository%3Aa%3Apull&account=u'
 */
export function tokenUrl(challenge: AuthChallenge, scopes: readonly AuthScope[], username: string | null): URL {
  const realm = challenge.params.realm;
  let url: URL;
  try {
    url = new URL(realm ?? '');
  } catch (err) {
    throw new ShibafuError('REGISTRY_ERROR', `Cannot get a registry token: the challenge's realm "${realm ?? ''}" is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ShibafuError('REGISTRY_ERROR', `Cannot get a registry token: the challenge's realm "${realm ?? ''}" is not an http(s) URL`);
  }
  if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
  for (const scope of scopes) url.searchParams.append('scope', scope);
  if (username !== null) url.searchParams.set('account', username);
  return url;
}

/** Where tokens stop being used early, so one does not expire on the way to the registry. */
const EXPIRY_MARGIN_MS = 10_000;
const DEFAULT_EXPIRES_S = 60;

/**
 * The token of a token server's answer (`token`, or OAuth2's `access_token`) and when to stop
 * using it.
 *
 * @example
 * parseTokenResponse(Buffer.from('{"token":"t","expires_in":300}'), 0) // { token: 't', expiresAt: 290000 }
 */
export function parseTokenResponse(body: Buffer, now: number): { token: string; expiresAt: number } {
  let json: { token?: unknown; access_token?: unknown; expires_in?: unknown };
  try {
    json = JSON.parse(body.toString('utf8')) as typeof json;
  } catch (err) {
    throw new ShibafuError('REGISTRY_ERROR', 'Cannot get a registry token: the token server did not answer JSON', { cause: err });
  }
  const token = typeof json.token === 'string' && json.token !== '' ? json.token : json.access_token;
  if (typeof token !== 'string' || token === '') throw new ShibafuError('REGISTRY_ERROR', 'Cannot get a registry token: the answer has no token');
  const expires = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : DEFAULT_EXPIRES_S;
  const lifetime = expires * 1000;
  return { token, expiresAt: now + Math.max(lifetime / 2, lifetime - EXPIRY_MARGIN_MS) };
}

/** GETs a token URL for the auth (through the client's transport and retries). */
export type TokenFetch = (url: URL, headers: Record<string, string>, signal: AbortSignal | undefined) => Promise<{ status: number; body: Buffer }>;

/** Authorization of registry requests; see the file comment. */
export interface RegistryAuth {
  /** The Authorization header value for a request needing `scopes`, or null (none needed yet). */
  authorization(scopes: readonly AuthScope[], signal?: AbortSignal): Promise<string | null>;
  /**
   * Takes the WWW-Authenticate of a 401 for these scopes: true when a next try may succeed (a
   * new challenge, or a cached token to drop), false when the credentials themselves failed.
   */
  challenged(wwwAuthenticate: string | string[] | undefined, scopes: readonly AuthScope[]): boolean;
  /** Takes the challenge of a `/v2/` ping (null: the registry needs no auth for it). */
  pinged(wwwAuthenticate: string | string[] | undefined): void;
  /** The user name requests go with, or null. */
  readonly username: string | null;
}

/**
 * @example
 * const auth = registryAuth({ credentials, fetchToken, registry: 'localhost:5000' });
 * auth.pinged(res.headers['www-authenticate']);
 * const h = await auth.authorization(['repository:a:pull']); // 'Bearer eyJ...'
 */
export function registryAuth(options: {
  credentials: RegistryCredentials | null;
  fetchToken: TokenFetch;
  registry: string;
  now?: () => number;
}): RegistryAuth {
  const now = options.now ?? Date.now;
  const creds = options.credentials;
  let challenge: AuthChallenge | null = null;
  const tokens = new Map<string, Promise<{ header: string; expiresAt: number }>>();
  const basic = creds === null ? null : `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;

  const keyOf = (scopes: readonly AuthScope[]): string => [...new Set(scopes)].sort().join(' ');

  async function fetchToken(ch: AuthChallenge, scopes: readonly AuthScope[], signal: AbortSignal | undefined): Promise<{ header: string; expiresAt: number }> {
    const url = tokenUrl(ch, scopes, creds?.username ?? null);
    const res = await options.fetchToken(url, basic === null ? {} : { authorization: basic }, signal);
    if (res.status === 401 || res.status === 403) {
      throw creds === null
        ? new ShibafuError('REGISTRY_UNAUTHORIZED', `Cannot get a token from ${url.origin} for ${options.registry}: anonymous access refused (HTTP ${res.status})`, { hint: `Log in first: shibafu login ${options.registry}` })
        : new ShibafuError('REGISTRY_UNAUTHORIZED', `Cannot get a token from ${url.origin} for ${options.registry}: it refused the credentials of user "${creds.username}" (HTTP ${res.status})`, { hint: `Check the user name and password: shibafu login ${options.registry}` });
    }
    if (res.status !== 200) {
      throw new ShibafuError('REGISTRY_ERROR', `Cannot get a token from ${url.origin} for ${options.registry}: HTTP ${res.status}`, { details: { status: res.status } });
    }
    const t = parseTokenResponse(res.body, now());
    return { header: `Bearer ${t.token}`, expiresAt: t.expiresAt };
  }

  return {
    username: creds?.username ?? null,
    async authorization(scopes, signal) {
      if (challenge === null) return null;
      if (challenge.scheme === 'basic') return basic;
      const key = keyOf(scopes);
      let entry = tokens.get(key);
      if (entry !== undefined) {
        const got = await entry.catch(() => null);
        if (got === null || got.expiresAt <= now()) entry = undefined;
      }
      if (entry === undefined) {
        entry = fetchToken(challenge, [...new Set(scopes)], signal);
        tokens.set(key, entry);
        // A failed fetch is not kept: the next request asks again.
        entry.catch(() => { if (tokens.get(key) === entry) tokens.delete(key); });
      }
      return (await entry).header;
    },
    challenged(www, scopes) {
      const next = pickChallenge(parseWwwAuthenticate(www));
      if (next === null) return false;
      // Basic without credentials: asking again would only be refused again.
      if (next.scheme === 'basic' && basic === null) {
        challenge = next;
        return false;
      }
      const before = challenge;
      challenge = next;
      const key = keyOf(scopes);
      const hadToken = tokens.delete(key);
      if (before === null || before.scheme !== next.scheme || before.params.realm !== next.params.realm) return true;
      // The same Bearer challenge again: a token of ours expired early or lacked a scope the
      // registry names (`error="insufficient_scope"`); one more fetch may help, once.
      return next.scheme === 'bearer' && hadToken;
    },
    pinged(www) {
      challenge = pickChallenge(parseWwwAuthenticate(www));
    },
  };
}
