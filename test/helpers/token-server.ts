/**
 * A token server for docker-registry's `auth: token` (distribution's docs/spec/auth/token.md):
 * GET /token?service=S&scope=repository:NAME:ACTIONS..., Basic credentials or none, answers
 * a JWT signed RS256 with a key made at test time by openssl, its certificate in the header's
 * `x5c` (distribution checks it against `rootcertbundle`, the same certificate). Every request
 * is recorded for the tests' assertions.
 */
import { execFileSync } from 'node:child_process';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';

export interface TokenRequest {
  readonly user: string | null;
  readonly scopes: readonly string[];
  readonly service: string | null;
  readonly account: string | null;
}

export interface TokenServer {
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** The certificate docker-registry trusts (its `rootcertbundle`). */
  readonly certFile: string;
  readonly requests: TokenRequest[];
  /** Token lifetime in seconds for the next tokens (default 300). */
  expiresIn: number;
  close(): Promise<void>;
}

export interface TokenServerOptions {
  /** Where the key and certificate go. */
  readonly dir: string;
  readonly users: Readonly<Record<string, string>>;
  /** Whether anonymous requests get pull access (true: like Docker Hub's public images). */
  readonly anonymousPull: boolean;
}

/**
 * @example
 * const tokens = await startTokenServer({ dir, users: { alice: 'pw' }, anonymousPull: false });
 * const reg = await startRegistry({ kind: 'token', ...tokens });
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const keyFile = join(options.dir, 'token.key');
  const certFile = join(options.dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=shibafu-test-token'], { stdio: 'ignore' });
  const key = readFileSync(keyFile, 'utf8');
  const certDer = new X509Certificate(readFileSync(certFile)).raw.toString('base64');
  const service = 'shibafu-test-registry';
  const issuer = 'shibafu-test-issuer';
  const requests: TokenRequest[] = [];
  const state = { expiresIn: 300 };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    let user: string | null = null;
    if (auth !== undefined) {
      const [u, ...p] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
      if (!auth.startsWith('Basic ') || u === undefined || options.users[u] !== p.join(':')) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        requests.push({ user: u ?? null, scopes: url.searchParams.getAll('scope'), service: url.searchParams.get('service'), account: url.searchParams.get('account') });
        return;
      }
      user = u;
    }
    const scopes = url.searchParams.getAll('scope');
    requests.push({ user, scopes, service: url.searchParams.get('service'), account: url.searchParams.get('account') });
    if (user === null && !options.anonymousPull) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"credentials required"}');
      return;
    }
    const access = scopes.map((s) => {
      const [type, name, actions] = [s.slice(0, s.indexOf(':')), s.slice(s.indexOf(':') + 1, s.lastIndexOf(':')), s.slice(s.lastIndexOf(':') + 1)];
      const wanted = actions.split(',');
      return { type, name, actions: user === null ? wanted.filter((a) => a === 'pull') : wanted };
    });
    const now = Math.floor(Date.now() / 1000);
    const token = jwt({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }, {
      iss: issuer, sub: user ?? '', aud: service, exp: now + state.expiresIn, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access,
    }, key);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: state.expiresIn, issued_at: new Date().toISOString() }));
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    get expiresIn() { return state.expiresIn; },
    set expiresIn(v: number) { state.expiresIn = v; },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

function jwt(header: object, claims: object, key: string): string {
  const signing = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(signing).sign(key);
  return `${signing}.${b64url(signature)}`;
}
