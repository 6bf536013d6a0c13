import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lookupAuth, lookupKeys, normalizeAuthKey, parseAuthFile, withLogin, withoutLogin } from './auth-file.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('keys: URL forms reduce to the registry; Docker Hub has one name', () => {
  assert.equal(normalizeAuthKey('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(normalizeAuthKey('http://localhost:5000/v2/'), 'localhost:5000');
  assert.equal(normalizeAuthKey('quay.io/team/app'), 'quay.io/team/app');
  assert.equal(normalizeAuthKey('index.docker.io'), 'docker.io');
  assert.deepEqual(lookupKeys('quay.io', 'ns/sub/app'), ['quay.io/ns/sub/app', 'quay.io/ns/sub', 'quay.io/ns', 'quay.io']);
  assert.deepEqual(lookupKeys('quay.io'), ['quay.io']);
});

test('the most specific namespace key wins; a password may hold colons', () => {
  const file = parseAuthFile(JSON.stringify({
    auths: { 'quay.io': { auth: b64('all:pw') }, 'quay.io/team': { auth: b64('team:p:w:') }, 'other.io': {} },
  }), '/x/auth.json');
  assert.deepEqual(lookupAuth(file, 'quay.io', 'team/app'), { kind: 'found', key: 'quay.io/team', credentials: { username: 'team', password: 'p:w:' } });
  assert.deepEqual(lookupAuth(file, 'quay.io', 'else/app'), { kind: 'found', key: 'quay.io', credentials: { username: 'all', password: 'pw' } });
  assert.deepEqual(lookupAuth(file, 'other.io', 'a'), { kind: 'none' });
  assert.deepEqual(lookupAuth(file, 'nowhere.io'), { kind: 'none' });
});

test("Docker's config.json: URL keys, credHelpers and credsStore", () => {
  const docker = parseAuthFile(JSON.stringify({
    auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'ecr.example': {} },
    credHelpers: { 'gcr.io': 'gcloud' },
    credsStore: 'desktop',
    HttpHeaders: { 'User-Agent': 'x' },
  }), '/h/.docker/config.json');
  assert.deepEqual(lookupAuth(docker, 'docker.io', 'library/busybox'), { kind: 'found', key: 'docker.io', credentials: { username: 'hub', password: 'pw' } });
  const gcr = lookupAuth(docker, 'gcr.io', 'p/app');
  assert.equal(gcr.kind, 'unusable');
  assert.match((gcr as { reason: string }).reason, /docker-credential-gcloud, which shibafu does not run/);
  const ecr = lookupAuth(docker, 'ecr.example');
  assert.equal(ecr.kind, 'unusable');
  assert.match((ecr as { reason: string }).reason, /docker-credential-desktop/);
  const token = parseAuthFile(JSON.stringify({ auths: { 'acr.io': { identitytoken: 'x' } } }), '/a');
  assert.match((lookupAuth(token, 'acr.io') as { reason: string }).reason, /identity token/);
});

test('bad files and entries are AUTH_FILE_INVALID, naming the file', () => {
  for (const text of ['{', '[]', '"x"', '{"auths": []}', '{"credHelpers": 3}']) {
    assert.throws(() => parseAuthFile(text, '/bad.json'), (err: Error & { code?: string }) => err.code === 'AUTH_FILE_INVALID' && /\/bad\.json/.test(err.message));
  }
  assert.deepEqual(parseAuthFile('', '/empty').json, {});
  const f = parseAuthFile(JSON.stringify({ auths: { r: { auth: b64('nocolon') } } }), '/f');
  assert.throws(() => lookupAuth(f, 'r'), { code: 'AUTH_FILE_INVALID' });
  const g = parseAuthFile(JSON.stringify({ auths: { r: { auth: '!!!' } } }), '/g');
  assert.throws(() => lookupAuth(g, 'r'), { code: 'AUTH_FILE_INVALID' });
});

test('login keeps other entries, other fields of the file and of the entry', () => {
  const json = { auths: { a: { auth: b64('x:y') }, b: { auth: b64('old:old'), email: 'e', identitytoken: 't' } }, credHelpers: { c: 'h' }, unknown: [1] };
  const out = withLogin(json, 'b', { username: 'new', password: 'pw' });
  assert.deepEqual(out, { auths: { a: { auth: b64('x:y') }, b: { auth: b64('new:pw'), email: 'e' } }, credHelpers: { c: 'h' }, unknown: [1] });
  assert.deepEqual(json.auths.b.auth, b64('old:old'), 'the input is not changed');
  assert.deepEqual(withLogin({}, 'r', { username: 'u', password: 'p' }), { auths: { r: { auth: b64('u:p') } } });
});

test('logout drops the key and its URL forms, or every entry', () => {
  const json = { auths: { 'docker.io': {}, 'https://index.docker.io/v1/': {}, 'quay.io': {} }, x: 1 };
  assert.deepEqual(withoutLogin(json, 'docker.io'), { json: { auths: { 'quay.io': {} }, x: 1 }, removed: ['docker.io', 'https://index.docker.io/v1/'] });
  assert.deepEqual(withoutLogin(json, 'nope').removed, []);
  assert.deepEqual(withoutLogin(json, null), { json: { auths: {}, x: 1 }, removed: ['docker.io', 'https://index.docker.io/v1/', 'quay.io'] });
});
