import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseWwwAuthenticate, pickChallenge } from './www-authenticate.js';

test('a distribution Bearer challenge: realm, service, scope with its commas and colons', () => {
  const h = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"';
  assert.deepEqual(parseWwwAuthenticate(h), [{
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' },
  }]);
});

test('Basic, several challenges in one header and in several headers, odd spacing and case', () => {
  assert.deepEqual(parseWwwAuthenticate('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
  assert.deepEqual(parseWwwAuthenticate('Basic realm="a, b", BEARER Realm = "https://t/x" , Service=reg'), [
    { scheme: 'basic', params: { realm: 'a, b' } },
    { scheme: 'bearer', params: { realm: 'https://t/x', service: 'reg' } },
  ]);
  assert.deepEqual(parseWwwAuthenticate(['Basic realm="x"', 'Bearer realm="y",error="insufficient_scope"']), [
    { scheme: 'basic', params: { realm: 'x' } },
    { scheme: 'bearer', params: { realm: 'y', error: 'insufficient_scope' } },
  ]);
});

test('quoted strings keep escaped quotes; empty and missing headers give nothing', () => {
  assert.deepEqual(parseWwwAuthenticate('Bearer realm="a\\"b",service=""'), [{ scheme: 'bearer', params: { realm: 'a"b', service: '' } }]);
  assert.deepEqual(parseWwwAuthenticate(undefined), []);
  assert.deepEqual(parseWwwAuthenticate(''), []);
  assert.deepEqual(parseWwwAuthenticate('Negotiate abc=='), [{ scheme: 'negotiate', params: { token68: 'abc==' } }]);
});

test('garbage is skipped without hiding the challenge after it', () => {
  assert.deepEqual(parseWwwAuthenticate('"junk", Bearer realm="r"'), [{ scheme: 'bearer', params: { realm: 'r' } }]);
});

test('Bearer (with a realm) is answered before Basic', () => {
  assert.equal(pickChallenge(parseWwwAuthenticate('Basic realm="x", Bearer realm="y"'))?.scheme, 'bearer');
  assert.equal(pickChallenge(parseWwwAuthenticate('Bearer service="no realm", Basic realm="x"'))?.scheme, 'basic');
  assert.equal(pickChallenge(parseWwwAuthenticate('Negotiate abc')), null);
});
