/**
 * Content identifiers: digests parsed once at the edge, and the OCI chainId rule checked against
 * values computed by hand with sha256sum (see each constant's comment).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { asChainId, asDiffId, chainIdOf, digestHex, parseDigest, sha256Digest, shortId, type ChainId } from './ids.js';

// printf a | sha256sum ; printf b | sha256sum ; printf c | sha256sum
const A = asDiffId('sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb');
const B = asDiffId('sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d');
const C = asDiffId('sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6');
// printf 'sha256:<A> sha256:<B>' | sha256sum
const AB = 'sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676';
// printf 'sha256:<AB> sha256:<C>' | sha256sum
const ABC = 'sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106';

test('sha256Digest matches sha256sum', () => {
  assert.equal(sha256Digest('a'), A);
  assert.equal(sha256Digest(Buffer.from('b')), B);
});

test('chainId of a root layer is its diffId', () => {
  assert.equal(chainIdOf(null, A), A);
});

test('chainId of a child is sha256(parentChainId + " " + diffId), hand-computed', () => {
  const ab = chainIdOf(asChainId(A), B);
  assert.equal(ab, AB);
  assert.equal(chainIdOf(ab, C), ABC);
});

test('chainId depends on order and parent', () => {
  assert.notEqual(chainIdOf(asChainId(B), A), AB);
  assert.notEqual(chainIdOf(asChainId(AB), C), chainIdOf(asChainId(A), C));
});

test('parseDigest accepts only sha256:<64 lowercase hex>', () => {
  assert.equal(parseDigest(A), A);
  for (const bad of [
    A.toUpperCase(),
    A.slice(7),
    `${A}0`,
    A.slice(0, -1),
    `sha512:${A.slice(7)}`,
    `sha256:${'g'.repeat(64)}`,
    '',
  ]) {
    assert.throws(() => parseDigest(bad), { name: 'ShibafuError', code: 'USAGE' }, bad);
  }
  assert.throws(() => asChainId('nope'), { code: 'USAGE' });
});

test('digestHex and shortId', () => {
  assert.equal(digestHex(A), 'ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb');
  assert.equal(shortId(AB as ChainId), '51c0c8ace484');
});
