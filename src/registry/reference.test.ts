import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatImageReference, manifestReference, parseImageReference, parseRegistryKey, registryApiHost } from './reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

test('short names normalize as docker and podman do', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['team/app', 'docker.io/team/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/team/app:v1', 'docker.io/team/app:v1'],
    ['quay.io/podman/stable', 'quay.io/podman/stable:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
    ['127.0.0.1:5000/a', '127.0.0.1:5000/a:latest'],
    ['[::1]:5000/a/b', '[::1]:5000/a/b:latest'],
    ['Registry/app', 'Registry/app:latest'],
    ['a-b.c/x__y/z---w.v_u:Tag_1.0-rc', 'a-b.c/x__y/z---w.v_u:Tag_1.0-rc'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`localhost:5000/a:t@${D}`, `localhost:5000/a:t@${D}`],
  ];
  for (const [text, want] of cases) assert.equal(formatImageReference(parseImageReference(text)), want, text);
});

test('the parts of a reference', () => {
  assert.deepEqual(parseImageReference(`localhost:5000/a/b:t@${D}`), { registry: 'localhost:5000', repository: 'a/b', tag: 't', digest: D });
  assert.deepEqual(parseImageReference('busybox'), { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', digest: undefined });
  assert.deepEqual(parseImageReference('localhost:5000/a', { defaultTag: false }), { registry: 'localhost:5000', repository: 'a', tag: undefined, digest: undefined });
  assert.equal(parseImageReference(`a@${D}`).tag, undefined);
});

test('the manifest is fetched by digest when there is one, else by tag', () => {
  assert.equal(manifestReference(parseImageReference(`a:1@${D}`)), D);
  assert.equal(manifestReference(parseImageReference('a:1')), '1');
  assert.throws(() => manifestReference(parseImageReference('a', { defaultTag: false })), { code: 'INVALID_REFERENCE' });
});

test('invalid references are refused with the rule they break', () => {
  const cases: [string, RegExp][] = [
    ['', /empty/],
    ['Busybox', /lower case/],
    ['docker.io/Team/app', /lower case/],
    ['a//b', /not a valid name component/],
    ['a/-b', /not a valid name component/],
    ['a_-b', /not a valid name component/],
    ['a:', /tag ""/],
    ['a:-x', /tag "-x"/],
    [`a:${'t'.repeat(129)}`, /tag/],
    ['a@sha256:abc', /64 lower-case hex/],
    [`a@sha256:${'AB'.repeat(32)}`, /64 lower-case hex/],
    [`a@sha512:${'ab'.repeat(64)}`, /not sha256/],
    ['ab'.repeat(32), /image id/],
    ['host_name:5000/a', /not a valid registry/],
    ['localhost:5000/', /no repository/],
    [`quay.io/${'a'.repeat(250)}`, /longer than 255/],
  ];
  for (const [text, why] of cases) {
    assert.throws(() => parseImageReference(text), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'INVALID_REFERENCE', text);
      assert.match(err.message, /^Cannot parse image reference/);
      assert.match(err.message, why, text);
      return true;
    });
  }
});

test('the API host of Docker Hub is registry-1.docker.io', () => {
  assert.equal(registryApiHost('docker.io'), 'registry-1.docker.io');
  assert.equal(registryApiHost('localhost:5000'), 'localhost:5000');
});

test('login keys: a registry, optionally with a namespace; scheme and trailing slash dropped', () => {
  assert.deepEqual(parseRegistryKey('localhost:5000'), { registry: 'localhost:5000', key: 'localhost:5000' });
  assert.deepEqual(parseRegistryKey('https://quay.io/'), { registry: 'quay.io', key: 'quay.io' });
  assert.deepEqual(parseRegistryKey('quay.io/team/app'), { registry: 'quay.io', key: 'quay.io/team/app' });
  assert.deepEqual(parseRegistryKey('index.docker.io'), { registry: 'docker.io', key: 'docker.io' });
  assert.throws(() => parseRegistryKey('bad host'), { code: 'INVALID_REFERENCE' });
  assert.throws(() => parseRegistryKey('quay.io/Team'), { code: 'INVALID_REFERENCE' });
});
