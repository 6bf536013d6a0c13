import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isShibafuError } from '../errors.js';
import { containerConfig, expandEnvEntry, generateName, parseEnvFile, parseVolume, validateContainerName } from './container-config.js';

test('containerConfig: defaults', () => {
  assert.deepEqual(containerConfig({ args: ['sh'] }), {
    args: ['sh'], env: [], workdir: '/', tty: false, interactive: false, volumes: [], readOnly: false,
    network: 'none', runtime: 'runc', autoRemove: false, noNewPrivileges: false,
  });
});

test('containerConfig: refuses no command, a relative workdir, a bad hostname or env entry', () => {
  const usage = (err: unknown): boolean => isShibafuError(err, 'USAGE');
  assert.throws(() => containerConfig({ args: [] }), usage);
  assert.throws(() => containerConfig({ args: ['sh'], workdir: 'app' }), usage);
  assert.throws(() => containerConfig({ args: ['sh'], hostname: 'bad host' }), usage);
  assert.throws(() => containerConfig({ args: ['sh'], env: ['=x'] }), usage);
});

test('parseVolume: HOST:DIR[:ro|rw], relative host paths from cwd', () => {
  assert.deepEqual(parseVolume('/srv/data:/data:ro', '/'), { source: '/srv/data', destination: '/data', readonly: true });
  assert.deepEqual(parseVolume('data:/data/', '/home/me'), { source: '/home/me/data', destination: '/data', readonly: false });
  assert.deepEqual(parseVolume('/a:/b:rw', '/'), { source: '/a', destination: '/b', readonly: false });
  for (const bad of ['/a', '/a:b', '/a:/b:rx', ':/b', '/a:/', '/a:/b:ro:x']) {
    assert.throws(() => parseVolume(bad, '/'), (err) => isShibafuError(err, 'USAGE'), bad);
  }
});

test('parseEnvFile: comments, blank lines, CRLF; a bare NAME comes from the caller\'s environment', () => {
  const env = parseEnvFile('# c\r\nA=1\r\n\n  B=two words\nFROM_HOST\nUNSET\nC=x=y\n', (n) => (n === 'FROM_HOST' ? 'v' : undefined));
  assert.deepEqual(env, ['A=1', 'B=two words', 'FROM_HOST=v', 'C=x=y']);
  assert.equal(expandEnvEntry('K=', () => undefined), 'K=');
});

test('validateContainerName and generateName', () => {
  assert.equal(validateContainerName('web-1.a_b'), 'web-1.a_b');
  for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(129)]) assert.throws(() => validateContainerName(bad), (err) => isShibafuError(err, 'INVALID_NAME'), bad);
  const name = generateName(() => Buffer.from([1, 2, 3, 4]));
  assert.match(name, /^[a-z]+_[a-z]+_[0-9]{4}$/);
  assert.equal(validateContainerName(name), name);
});
