import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { authFilePaths, findCredentials, removeCredentials, saveCredentials } from './credentials.js';

const dir = mkdtempSync(join(tmpdir(), 'shibafu-creds-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('the files, in podman\'s order; --authfile and REGISTRY_AUTH_FILE replace the primary only', () => {
  assert.deepEqual(authFilePaths({ env: { HOME: '/root' }, uid: 0 }), {
    primary: '/run/containers/0/auth.json', fallbacks: ['/root/.config/containers/auth.json', '/root/.docker/config.json'],
  });
  assert.deepEqual(authFilePaths({ env: { HOME: '/home/u', XDG_RUNTIME_DIR: '/run/user/1000', XDG_CONFIG_HOME: '/cfg', DOCKER_CONFIG: '/dk' }, uid: 1000 }), {
    primary: '/run/user/1000/containers/auth.json', fallbacks: ['/cfg/containers/auth.json', '/dk/config.json'],
  });
  assert.equal(authFilePaths({ env: { REGISTRY_AUTH_FILE: '/env.json' }, uid: 0 }).primary, '/env.json');
  assert.equal(authFilePaths({ env: { REGISTRY_AUTH_FILE: '/env.json' }, uid: 0, authFile: '/flag.json' }).primary, '/flag.json');
  assert.deepEqual(authFilePaths({ env: {}, uid: 0 }).fallbacks, []);
});

test('lookup goes through the files in order, skipping missing ones and noting helpers', () => {
  const home = join(dir, 'home1');
  mkdirSync(join(home, '.docker'), { recursive: true });
  writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({
    auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw') }, 'both.io': { auth: b64('docker:pw') } }, credHelpers: { 'gcr.io': 'gcloud' },
  }));
  const primary = join(dir, 'run1', 'auth.json');
  mkdirSync(join(dir, 'run1'));
  writeFileSync(primary, JSON.stringify({ auths: { 'both.io': { auth: b64('mine:pw') } } }));
  const paths = { primary, fallbacks: [join(home, '.config/containers/auth.json'), join(home, '.docker/config.json')] };
  assert.deepEqual(findCredentials(paths, 'both.io', 'a'), { credentials: { username: 'mine', password: 'pw' }, source: { path: primary, key: 'both.io' }, unusable: [] });
  assert.deepEqual(findCredentials(paths, 'docker.io', 'library/busybox').credentials, { username: 'hub', password: 'pw' });
  const gcr = findCredentials(paths, 'gcr.io', 'p/a');
  assert.equal(gcr.credentials, null);
  assert.match(gcr.unusable[0] ?? '', /docker-credential-gcloud/);
  assert.deepEqual(findCredentials({ primary: join(dir, 'none.json'), fallbacks: [] }, 'x.io'), { credentials: null, source: null, unusable: [] });
});

test('save creates the file 0600 in a 0700 dir, keeps what else it holds, and leaves no temp file', () => {
  const path = join(dir, 'run2', 'containers', 'auth.json');
  saveCredentials(path, 'localhost:5000', { username: 'u', password: 'p' });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'run2', 'containers')).mode & 0o777, 0o700);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { auths: { 'localhost:5000': { auth: b64('u:p') } } });
  writeFileSync(path, JSON.stringify({ auths: { 'localhost:5000': { auth: b64('u:p') }, 'q.io': { auth: b64('q:q') } }, credHelpers: { 'g.io': 'h' }, future: { x: 1 } }), { mode: 0o644 });
  saveCredentials(path, 'localhost:5000', { username: 'u2', password: 'p2' });
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), {
    auths: { 'localhost:5000': { auth: b64('u2:p2') }, 'q.io': { auth: b64('q:q') } }, credHelpers: { 'g.io': 'h' }, future: { x: 1 },
  });
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, 'run2', 'containers')), ['auth.json']);
});

test('a file that is not JSON is refused and left as it was', () => {
  const path = join(dir, 'broken.json');
  writeFileSync(path, '{"auths": ');
  assert.throws(() => saveCredentials(path, 'r', { username: 'u', password: 'p' }), { code: 'AUTH_FILE_INVALID' });
  assert.equal(readFileSync(path, 'utf8'), '{"auths": ');
  assert.throws(() => findCredentials({ primary: path, fallbacks: [] }, 'r'), { code: 'AUTH_FILE_INVALID' });
});

test('remove drops one key or all, and touches nothing when the key is absent', () => {
  const path = join(dir, 'rm.json');
  writeFileSync(path, JSON.stringify({ auths: { a: { auth: b64('a:a') }, b: { auth: b64('b:b') } }, keep: true }));
  const before = statSync(path).ino;
  assert.deepEqual(removeCredentials(path, 'c'), []);
  assert.equal(statSync(path).ino, before, 'not rewritten');
  assert.deepEqual(removeCredentials(path, 'a'), ['a']);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { auths: { b: { auth: b64('b:b') } }, keep: true });
  assert.deepEqual(removeCredentials(path, null), ['b']);
  assert.deepEqual(JSON.parse(readFileSync(path, 'utf8')), { auths: {}, keep: true });
  assert.deepEqual(removeCredentials(join(dir, 'missing.json'), null), []);
});
