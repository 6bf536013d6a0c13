import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isShibafuError } from '../errors.js';
import type { ImageRunConfig } from '../oci/image-config.js';
import { imageRunOf, mergeEnv, parseEntrypoint } from './image-run-config.js';

const IMAGE: ImageRunConfig = {
  user: 'app', env: ['PATH=/usr/bin:/bin', 'GREETING=hello'], entrypoint: ['/bin/sh', '-c'], cmd: ['echo $GREETING'],
  workingDir: '/app', labels: {}, stopSignal: undefined,
};

test('the image\'s Entrypoint + Cmd, Env, WorkingDir and User when nothing is given', () => {
  assert.deepEqual(imageRunOf(IMAGE, { cmd: [], env: [] }, 'app'), {
    args: ['/bin/sh', '-c', 'echo $GREETING'], env: ['PATH=/usr/bin:/bin', 'GREETING=hello'], workdir: '/app', user: 'app',
  });
});

test('CMD replaces Cmd only; -e replaces a variable in place and adds new ones last; -w and -u win', () => {
  assert.deepEqual(imageRunOf(IMAGE, { cmd: ['id -u'], env: ['GREETING=hi', 'X=1'], workdir: '/tmp', user: '0' }, 'app'), {
    args: ['/bin/sh', '-c', 'id -u'], env: ['PATH=/usr/bin:/bin', 'GREETING=hi', 'X=1'], workdir: '/tmp', user: '0',
  });
});

test('--entrypoint drops the image\'s Cmd (docker\'s rule); "" clears the Entrypoint', () => {
  assert.deepEqual(imageRunOf(IMAGE, { cmd: [], env: [], entrypoint: ['/bin/true'] }, 'app').args, ['/bin/true']);
  assert.deepEqual(imageRunOf(IMAGE, { cmd: ['ls', '/'], env: [], entrypoint: [] }, 'app').args, ['ls', '/']);
  assert.deepEqual(imageRunOf({ ...IMAGE, entrypoint: undefined }, { cmd: [], env: [] }, 'app').args, ['echo $GREETING']);
});

test('no command at all is a usage error naming the image', () => {
  assert.throws(() => imageRunOf({ ...IMAGE, entrypoint: undefined, cmd: undefined }, { cmd: [], env: [] }, 'scratchy'),
    (e: unknown) => isShibafuError(e, 'USAGE') && /image scratchy: it names no command/.test((e as Error).message));
});

test('parseEntrypoint: a JSON list, one program, or nothing; a broken list is refused', () => {
  assert.deepEqual(parseEntrypoint('["/bin/sh","-c"]'), ['/bin/sh', '-c']);
  assert.deepEqual(parseEntrypoint('/bin/sh -x'), ['/bin/sh -x']);
  assert.deepEqual(parseEntrypoint(''), []);
  assert.throws(() => parseEntrypoint('["/bin/sh", 1]'), (e: unknown) => isShibafuError(e, 'USAGE'));
  assert.throws(() => parseEntrypoint('[oops'), (e: unknown) => isShibafuError(e, 'USAGE'));
});

test('mergeEnv keys on the name, a bare NAME included', () => {
  assert.deepEqual(mergeEnv(['A=1', 'B=2'], ['B=3', 'A', 'C=4']), ['A', 'B=3', 'C=4']);
});
