import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isShibafuError } from '../errors.js';
import { decodeAnswer, decodeRequest, encodeAnswer, encodeRequest, MAX_REQUEST } from './service-protocol.js';

test('a command request round-trips: cwd, argv (empty strings and UTF-8 kept), env', () => {
  const request = { kind: 'command', cwd: '/work', argv: ['run', '', 'sh', '-c', 'echo héllo'], env: { PATH: '/bin', EMPTY: '', EQ: 'a=b' } } as const;
  const bytes = encodeRequest(request);
  assert.equal(bytes.toString('latin1', 0, 4), 'SHB1');
  assert.equal(bytes.readUInt32LE(4), bytes.length - 8);
  assert.deepEqual(decodeRequest(bytes), { request, size: bytes.length });
});

test('the exact bytes the native front end sends for `shibafu ps` in /', () => {
  const body = ['command', '/', '1', 'ps', '1', 'A=1', ''].join('\0');
  const header = Buffer.alloc(8);
  header.write('SHB1', 0, 'latin1');
  header.writeUInt32LE(Buffer.byteLength(body), 4);
  assert.deepEqual(decodeRequest(Buffer.concat([header, Buffer.from(body)])), {
    request: { kind: 'command', cwd: '/', argv: ['ps'], env: { A: '1' } }, size: 8 + body.length,
  });
});

test('a request in pieces is incomplete until its last byte; bytes after it are not its own', () => {
  const bytes = encodeRequest({ kind: 'ping' });
  for (let n = 0; n < bytes.length; n++) assert.equal(decodeRequest(bytes.subarray(0, n)), 'incomplete');
  assert.deepEqual(decodeRequest(Buffer.concat([bytes, Buffer.from([15])])), { request: { kind: 'ping' }, size: bytes.length });
});

test('malformed requests are refused with USAGE, never half-read', () => {
  const bad = (bytes: Buffer, why: RegExp): void => {
    assert.throws(() => decodeRequest(bytes), (err: unknown) => isShibafuError(err) && err.code === 'USAGE' && why.test(err.message));
  };
  const withBody = (body: string, length = Buffer.byteLength(body)): Buffer => {
    const h = Buffer.alloc(8);
    h.write('SHB1', 0, 'latin1');
    h.writeUInt32LE(length, 4);
    return Buffer.concat([h, Buffer.from(body)]);
  };
  const fields = (...f: string[]): string => f.map((x) => `${x}\0`).join('');
  bad(Buffer.from('XXXX\0\0\0\0'), /does not start with SHB1/);
  bad(withBody('', MAX_REQUEST + 1), /more than/);
  bad(withBody('launch\0'), /unknown kind "launch"/);
  bad(withBody(fields('command', 'relative', '0', '0')), /not absolute/);
  bad(withBody(fields('command', '/', '2', 'only-one', '0')), /not NUL-terminated/);
  bad(withBody(fields('command', '/', '-1')), /bad count "-1"/);
  bad(withBody(fields('command', '/', '0', '0', 'extra')), /bytes after its last field/);
});

test('answers: exit N, ok PID, fallback; anything else is none', () => {
  assert.equal(encodeAnswer({ kind: 'exit', status: 125 }), 'exit 125\n');
  assert.equal(encodeAnswer({ kind: 'fallback' }), 'fallback\n');
  assert.deepEqual(decodeAnswer('ok 4242'), { kind: 'ok', pid: 4242 });
  assert.deepEqual(decodeAnswer('exit 0'), { kind: 'exit', status: 0 });
  assert.deepEqual(decodeAnswer('fallback'), { kind: 'fallback' });
  assert.equal(decodeAnswer('exit -1'), null);
  assert.equal(decodeAnswer(''), null);
});
