import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseErrorBody, registryError, requestFailure, unreachableError, type RegistryErrorContext } from './registry-error.js';

const ctx: RegistryErrorContext = { action: 'fetch manifest', object: 'r.io/a:t', registry: 'r.io', kind: 'manifest', username: null };
const body = (code: string, message: string): Buffer => Buffer.from(JSON.stringify({ errors: [{ code, message, detail: { x: 1 } }] }));

test('the distribution error body is read; anything else gives no entries', () => {
  assert.deepEqual(parseErrorBody(body('DENIED', 'no')), [{ code: 'DENIED', message: 'no' }]);
  assert.deepEqual(parseErrorBody(Buffer.from('<html>')), []);
  assert.deepEqual(parseErrorBody(Buffer.from('{"errors":[{}]}')), [{ code: 'UNKNOWN', message: '' }]);
  assert.deepEqual(parseErrorBody(null), []);
});

test('each refusal gets its code, the registry\'s words and the status', () => {
  const cases: [number, Buffer | null, RegistryErrorContext, string, RegExp][] = [
    [404, body('MANIFEST_UNKNOWN', 'manifest unknown'), ctx, 'MANIFEST_UNKNOWN', /^Cannot fetch manifest r\.io\/a:t: the registry has no such manifest \(MANIFEST_UNKNOWN: manifest unknown; HTTP 404\)$/],
    [404, body('NAME_UNKNOWN', 'repository name not known to registry'), ctx, 'MANIFEST_UNKNOWN', /no such repository/],
    [404, null, { ...ctx, kind: 'blob' }, 'BLOB_UNKNOWN', /no such blob \(HTTP 404\)$/],
    [403, body('DENIED', 'requested access to the resource is denied'), { ...ctx, username: 'u' }, 'REGISTRY_DENIED', /access denied to user "u"/],
    [401, body('UNAUTHORIZED', 'authentication required'), { ...ctx, username: 'u' }, 'REGISTRY_UNAUTHORIZED', /refused the credentials of user "u"/],
    [400, body('DIGEST_INVALID', 'provided digest did not match uploaded content'), { ...ctx, kind: 'blob' }, 'DIGEST_MISMATCH', /do not match the digest/],
    [429, body('TOOMANYREQUESTS', 'slow down'), ctx, 'REGISTRY_ERROR', /too many requests/],
    [500, Buffer.from('oops'), ctx, 'REGISTRY_ERROR', /the registry failed \(HTTP 500\)$/],
    [400, body('MANIFEST_INVALID', 'manifest invalid'), ctx, 'REGISTRY_ERROR', /refused the request \(MANIFEST_INVALID: manifest invalid; HTTP 400\)$/],
  ];
  for (const [status, b, c, code, message] of cases) {
    const err = registryError(status, b, c);
    assert.equal(err.code, code, `${status} ${String(b)}`);
    assert.match(err.message, message);
    assert.equal(err.details?.status, status);
  }
});

test('401 without credentials: the hint says shibafu login and names unusable helpers', () => {
  const err = registryError(401, null, { ...ctx, unusable: ['config.json gives r.io to docker-credential-pass'] });
  assert.equal(err.hint, 'Log in first: shibafu login r.io (config.json gives r.io to docker-credential-pass)');
  assert.equal(err.exitStatus, 8);
});

test('network failures: short causes, and hints by kind', () => {
  const e = (code: string, message = code): Error => Object.assign(new Error(message), { code });
  const refused = unreachableError(e('ECONNREFUSED'), ctx);
  assert.equal(refused.message, 'Cannot fetch manifest r.io/a:t: no answer from r.io: connection refused (ECONNREFUSED)');
  assert.match(refused.hint ?? '', /name and port/);
  const cert = unreachableError(e('DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed certificate'), ctx);
  assert.match(cert.message, /the TLS handshake failed: self-signed certificate \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/);
  assert.match(cert.hint ?? '', /--tls-verify=false/);
  assert.match(unreachableError(e('ECONNRESET', 'socket hang up'), ctx).message, /connection reset \(ECONNRESET\)$/);
});

test('what a failed request throws: the abort reason, our error, or REGISTRY_UNREACHABLE', () => {
  const ac = new AbortController();
  ac.abort();
  const net = Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  assert.equal((requestFailure(net, ac.signal, ctx) as Error).name, 'AbortError');
  assert.equal((requestFailure(net, undefined, ctx) as { code: string }).code, 'REGISTRY_UNREACHABLE');
  const bug = new TypeError('x');
  assert.equal(requestFailure(bug, undefined, ctx), bug);
});
