import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isShibafuError } from '../errors.js';
import { parseGroup, parsePasswd, resolveUser } from './container-user.js';

const files = {
  passwd: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nbad line\nnobody:x:65534:65534::/nonexistent:/bin/false\n',
  group: 'root:x:0:\napp:x:1000:\nstaff:x:50:app,other\nwheel:x:10:app\n',
};

test('resolveUser: default is root with its home', () => {
  assert.deepEqual(resolveUser(undefined, files), { uid: 0, gid: 0, additionalGids: [], home: '/root' });
  assert.deepEqual(resolveUser('', { passwd: null, group: null }), { uid: 0, gid: 0, additionalGids: [], home: '/' });
});

test('resolveUser: a name takes uid, gid, supplementary groups and home from the container', () => {
  assert.deepEqual(resolveUser('app', files), { uid: 1000, gid: 1000, additionalGids: [50, 10], home: '/home/app' });
});

test('resolveUser: numeric ids work without any passwd; a known uid gets its home', () => {
  assert.deepEqual(resolveUser('1000:1000', { passwd: null, group: null }), { uid: 1000, gid: 1000, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser('1000', files), { uid: 1000, gid: 1000, additionalGids: [50, 10], home: '/home/app' });
  assert.deepEqual(resolveUser('4242', files), { uid: 4242, gid: 0, additionalGids: [], home: '/' });
  assert.deepEqual(resolveUser('app:staff', files), { uid: 1000, gid: 50, additionalGids: [], home: '/home/app' });
});

test('resolveUser: unknown names and malformed specs are usage errors', () => {
  for (const spec of ['ghost', 'app:nogroup', ':1', '1:', '-1', '99999999999']) {
    assert.throws(() => resolveUser(spec, files), (err) => isShibafuError(err, 'USAGE'), spec);
  }
});

test('parsePasswd / parseGroup skip malformed lines', () => {
  assert.equal(parsePasswd(files.passwd).length, 3);
  assert.deepEqual(parseGroup(files.group).find((g) => g.name === 'staff'), { name: 'staff', gid: 50, members: ['app', 'other'] });
});
