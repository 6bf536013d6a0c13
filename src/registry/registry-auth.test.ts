import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTokenResponse, registryAuth, repositoryScope, tokenUrl, type TokenFetch } from './registry-auth.js';

const bearer = 'Bearer realm="https://auth.example/token?x=1",service="reg.example"';

test('scopes and the token URL (the realm\'s own query kept, scopes repeated, account named)', () => {
  assert.equal(repositoryScope('team/app', ['pull', 'push']), 'repository:team/app:pull,push');
  const url = tokenUrl({ scheme: 'bearer', params: { realm: 'https://auth.example/token?x=1', service: 'reg.example' } }, ['repository:a:pull', 'repository:b:pull,push'], 'alice');
  assert.equal(url.href, 'https://auth.example/token?x=1&service=reg.example&scope=repository%3Aa%3Apull&scope=repository%3Ab%3Apull%2Cpush&account=alice');
  assert.throws(() => tokenUrl({ scheme: 'bearer', params: { realm: 'ftp://x' } }, [], null), { code: 'REGISTRY_ERROR' });
  assert.throws(() => tokenUrl({ scheme: 'bearer', params: {} }, [], null), { code: 'REGISTRY_ERROR' });
});

test('token answers: token or access_token; 60 s by default, used until shortly before expiry', () => {
  assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":300}'), 1000), { token: 't', expiresAt: 1000 + 290_000 });
  assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"a"}'), 0), { token: 'a', expiresAt: 50_000 });
  assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":4}'), 0), { token: 't', expiresAt: 2000 }, 'a short token: half its life');
  assert.throws(() => parseTokenResponse(Buffer.from('{}'), 0), { code: 'REGISTRY_ERROR' });
  assert.throws(() => parseTokenResponse(Buffer.from('<html>'), 0), { code: 'REGISTRY_ERROR' });
});

function fakeTokens(): { fetch: TokenFetch; calls: { url: string; auth: string | undefined }[] } {
  const calls: { url: string; auth: string | undefined }[] = [];
  let n = 0;
  return {
    calls,
    fetch: async (url, headers) => {
      calls.push({ url: url.href, auth: headers.authorization });
      await Promise.resolve();
      return { status: 200, body: Buffer.from(JSON.stringify({ token: `t${++n}`, expires_in: 60 })) };
    },
  };
}

test('no challenge, no header; Basic sends the credentials; Bearer fetches one token per scope set, shared', async () => {
  const f = fakeTokens();
  let now = 0;
  const auth = registryAuth({ credentials: { username: 'u', password: 'p' }, fetchToken: f.fetch, registry: 'r', now: () => now });
  assert.equal(await auth.authorization(['repository:a:pull']), null);
  auth.pinged('Basic realm="x"');
  assert.equal(await auth.authorization(['repository:a:pull']), `Basic ${Buffer.from('u:p').toString('base64')}`);
  auth.pinged(bearer);
  const [a, b] = await Promise.all([auth.authorization(['repository:a:pull']), auth.authorization(['repository:a:pull'])]);
  assert.deepEqual([a, b], ['Bearer t1', 'Bearer t1']);
  assert.equal(f.calls.length, 1, 'concurrent requests share one fetch');
  assert.equal(f.calls[0]!.auth, `Basic ${Buffer.from('u:p').toString('base64')}`);
  assert.equal(await auth.authorization(['repository:a:pull', 'repository:b:pull']), 'Bearer t2');
  assert.equal(await auth.authorization(['repository:b:pull', 'repository:a:pull']), 'Bearer t2', 'scope order does not matter');
  now = 60_000;
  assert.equal(await auth.authorization(['repository:a:pull']), 'Bearer t3', 'an expired token is fetched again');
});

test('a 401 with a new challenge is worth a retry; the same Bearer one only when a token was dropped; Basic without credentials never', () => {
  const f = fakeTokens();
  const auth = registryAuth({ credentials: null, fetchToken: f.fetch, registry: 'r' });
  assert.equal(auth.challenged('Basic realm="x"', []), false);
  assert.equal(auth.challenged(bearer, ['s']), true);
  assert.equal(auth.challenged(bearer, ['s']), false, 'no token of ours to blame');
  assert.equal(auth.challenged(undefined, ['s']), false);
});

test('a token server that refuses: REGISTRY_UNAUTHORIZED, anonymous or naming the user', async () => {
  const refuse: TokenFetch = async () => ({ status: 401, body: Buffer.alloc(0) });
  const anon = registryAuth({ credentials: null, fetchToken: refuse, registry: 'r' });
  anon.pinged(bearer);
  await assert.rejects(anon.authorization(['s']), { code: 'REGISTRY_UNAUTHORIZED', message: /anonymous access refused/ });
  const named = registryAuth({ credentials: { username: 'bob', password: 'x' }, fetchToken: refuse, registry: 'r' });
  named.pinged(bearer);
  await assert.rejects(named.authorization(['s']), { code: 'REGISTRY_UNAUTHORIZED', message: /user "bob"/ });
});
