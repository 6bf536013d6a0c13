/**
 * Auth against docker-registry: htpasswd (Basic) and the token flow (a token server of the
 * test's own, its JWTs checked by the registry against a certificate made at test time). 401
 * without credentials, good and bad passwords, tokens fetched once per scope and anonymous pull
 * tokens, and a redirect to another host that must not see the Authorization header.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { Digest } from '../src/ids.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { makeImage, sha256, smallLayer } from './helpers/oci-image.js';
import { pushTestImage, readAll, registryMissing, skopeo, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTokenServer, type TokenServer } from './helpers/token-server.js';

const skip = registryMissing();
const ALICE = { username: 'alice', password: 'correct horse:battery' };

describe('htpasswd (Basic) registry', { skip }, () => {
  let reg: TestRegistry;
  const image = makeImage([smallLayer('basic', 'auth')], { format: 'oci' });
  before(async () => {
    reg = await startRegistry({ kind: 'htpasswd', users: { alice: ALICE.password } });
  });
  after(async () => { await reg?.stop(); });

  test('ping sees Basic; a request without credentials is REGISTRY_UNAUTHORIZED with `shibafu login` as the hint', async () => {
    const anon = new RegistryClient({ registry: reg.host, tlsVerify: false, unusableCredentials: ['/h/.docker/config.json gives the credentials for x to docker-credential-pass'] });
    try {
      assert.deepEqual(await anon.ping(), { url: reg.url, auth: 'basic' });
      await assert.rejects(anon.getManifest('team/app', 'v1'), (err: Error & { code?: string; hint?: string; exitStatus?: number }) => {
        assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
        assert.equal(err.exitStatus, 8);
        assert.match(err.message, new RegExp(`^Cannot fetch manifest ${reg.host}/team/app:v1: the registry wants credentials and none were found \\(UNAUTHORIZED`));
        assert.match(err.hint ?? '', new RegExp(`^Log in first: shibafu login ${reg.host} \\(.*docker-credential-pass\\)$`));
        return true;
      });
    } finally {
      anon.close();
    }
  });

  test('good credentials log in, push and pull; skopeo reads the result with them', async () => {
    const client = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: ALICE });
    try {
      await client.checkLogin();
      assert.equal(await pushTestImage(client, 'team/app', 'v1', image), image.manifest.digest);
      assert.equal((await client.getManifest('team/app', 'v1')).digest, image.manifest.digest);
      const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', `${ALICE.username}:${ALICE.password}`, `docker://${reg.host}/team/app:v1`])) as { Digest: string };
      assert.equal(info.Digest, image.manifest.digest);
    } finally {
      client.close();
    }
  });

  test('a wrong password: checkLogin refuses it, naming the user', async () => {
    const client = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: { username: 'alice', password: 'wrong' } });
    try {
      await assert.rejects(client.checkLogin(), (err: Error & { code?: string; hint?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
        assert.match(err.message, new RegExp(`^Cannot log in to ${reg.host}: the registry refused the credentials of user "alice"`));
        assert.equal(err.hint, `Check the user name and password: shibafu login ${reg.host}`);
        return true;
      });
    } finally {
      client.close();
    }
  });

  describe('a blob redirected to another host', () => {
    let proxy: FaultProxy;
    let cdn: Server;
    let cdnPort = 0;
    const cdnHeaders: IncomingHttpHeaders[] = [];
    before(async () => {
      cdn = createServer((req, res) => {
        cdnHeaders.push(req.headers);
        res.writeHead(200, { 'content-length': String(image.layers[0]!.size) }).end(image.layers[0]!.bytes);
      });
      await new Promise<void>((resolve) => cdn.listen(0, '127.0.0.1', resolve));
      cdnPort = (cdn.address() as { port: number }).port;
      proxy = await startFaultProxy(reg.port, (r) => (r.method === 'GET' && r.path.includes('/blobs/sha256:')
        // `localhost` is another origin than the registry's 127.0.0.1, as a storage host would be.
        ? { kind: 'redirect', location: `http://localhost:${cdnPort}/signed/blob?sig=abc` } : undefined));
    });
    after(async () => {
      await proxy?.close();
      cdn?.closeAllConnections();
      await new Promise<void>((resolve) => (cdn === undefined ? resolve() : cdn.close(() => resolve())));
    });

    test('the registry gets the Authorization header, the other host does not; the bytes are verified', async () => {
      const client = new RegistryClient({ registry: proxy.host, tlsVerify: false, credentials: ALICE });
      try {
        const got = await readAll(client.openBlob('team/app', image.layers[0]!.digest as Digest, { size: image.layers[0]!.size }));
        assert.ok(got.equals(image.layers[0]!.bytes));
        const toRegistry = proxy.requests.find((r) => r.path.includes('/blobs/'));
        assert.equal(toRegistry?.headers.authorization, `Basic ${Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')}`);
        assert.equal(cdnHeaders.length, 1);
        assert.equal(cdnHeaders[0]!.authorization, undefined);
        assert.equal(cdnHeaders[0]!.host, `localhost:${cdnPort}`);
      } finally {
        client.close();
      }
    });
  });
});

describe('token-auth registry', { skip }, () => {
  let reg: TestRegistry;
  let tokens: TokenServer;
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-token-'));
  const image = makeImage([smallLayer('token', 'flow'), smallLayer('second', 'layer')], { format: 'oci' });
  before(async () => {
    tokens = await startTokenServer({ dir, users: { alice: ALICE.password }, anonymousPull: true });
    reg = await startRegistry({ kind: 'token', realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, certFile: tokens.certFile });
  });
  after(async () => {
    await reg?.stop();
    await tokens?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('push with credentials: one token per scope, sent with Basic credentials and the service', async () => {
    const client = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: ALICE });
    try {
      assert.deepEqual(await client.ping(), { url: reg.url, auth: 'bearer' });
      tokens.requests.length = 0;
      assert.equal(await pushTestImage(client, 'tok/app', 'v1', image), image.manifest.digest);
      const pushTokens = tokens.requests.filter((r) => r.scopes.join(' ') === 'repository:tok/app:pull,push');
      const pullTokens = tokens.requests.filter((r) => r.scopes.join(' ') === 'repository:tok/app:pull');
      assert.equal(pushTokens.length, 1, 'the push token is fetched once and reused');
      assert.equal(pullTokens.length, 1, 'the HEADs share one pull token');
      assert.deepEqual(tokens.requests.map((r) => [r.user, r.service, r.account]), tokens.requests.map(() => ['alice', tokens.service, 'alice']));
      const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', '--creds', `${ALICE.username}:${ALICE.password}`, `docker://${reg.host}/tok/app:v1`])) as { Digest: string };
      assert.equal(info.Digest, image.manifest.digest);
    } finally {
      client.close();
    }
  });

  test('anonymous pull gets an anonymous token; anonymous push is REGISTRY_UNAUTHORIZED', async () => {
    const anon = new RegistryClient({ registry: reg.host, tlsVerify: false });
    try {
      tokens.requests.length = 0;
      const m = await anon.getManifest('tok/app', 'v1');
      assert.equal(m.digest, image.manifest.digest);
      for (const l of image.layers) assert.ok((await readAll(anon.openBlob('tok/app', l.digest as Digest))).equals(l.bytes));
      assert.deepEqual(tokens.requests.map((r) => [r.user, r.scopes]), [[null, ['repository:tok/app:pull']]]);
      const blob = Buffer.from('anonymous push');
      await assert.rejects(anon.uploadBlob('tok/app', sha256(blob) as Digest, blob.length, () => Readable.from([blob])), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
        assert.match(err.message, /the registry wants credentials and none were found/);
        return true;
      });
    } finally {
      anon.close();
    }
  });

  test('a cross-repository mount asks one token for both repositories', async () => {
    const client = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: ALICE });
    try {
      tokens.requests.length = 0;
      assert.equal(await client.mountBlob('tok/other', image.layers[0]!.digest as Digest, 'tok/app'), true);
      assert.deepEqual(tokens.requests.map((r) => [...r.scopes].sort()), [['repository:tok/app:pull', 'repository:tok/other:pull,push']]);
    } finally {
      client.close();
    }
  });

  test('login: good credentials are accepted, a wrong password is refused by the token server', async () => {
    const good = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: ALICE });
    const bad = new RegistryClient({ registry: reg.host, tlsVerify: false, credentials: { username: 'alice', password: 'nope' } });
    try {
      await good.checkLogin();
      await assert.rejects(bad.checkLogin(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
        assert.match(err.message, /it refused the credentials of user "alice" \(HTTP 401\)$/);
        return true;
      });
    } finally {
      good.close();
      bad.close();
    }
  });
});
