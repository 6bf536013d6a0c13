/**
 * Faults between the client and a real docker-registry, injected by a proxy: connections cut
 * mid-blob (resumed with Range, exact bytes), a cache that ignores Range, flipped bytes
 * (DIGEST_MISMATCH, nothing passed on as good), 503/429 answered then success, uploads whose
 * PUT fails (a new session) or is too large (chunks), and a chunk refused mid-upload (resumed
 * where the registry stands).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { Digest } from '../src/ids.js';
import { RegistryClient } from '../src/registry/registry-client.js';
import { startFaultProxy, type FaultProxy, type RecordedRequest } from './helpers/fault-proxy.js';
import { makeImage, sha256, smallLayer } from './helpers/oci-image.js';
import { readAll, registryMissing, startRegistry, type TestRegistry } from './helpers/registry.js';

const skip = registryMissing();
const FAST = { attempts: 4, baseDelayMs: 5, maxDelayMs: 2000 };

const isBlobGet = (digest: string) => (r: RecordedRequest): boolean => r.method === 'GET' && r.path === `/v2/big/blobs/${digest}`;

describe('registry faults through a proxy', { skip }, () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let direct: RegistryClient;
  let client: RegistryClient;
  const big = randomBytes(4 * 1024 * 1024 + 123);
  const bigDigest = sha256(big) as Digest;

  before(async () => {
    reg = await startRegistry();
    proxy = await startFaultProxy(reg.port);
    direct = new RegistryClient({ registry: reg.host, tlsVerify: false });
    await direct.uploadBlob('big', bigDigest, big.length, () => Readable.from([big]));
  });
  beforeEach(() => {
    client?.close();
    client = new RegistryClient({ registry: proxy.host, tlsVerify: false, retry: FAST });
    proxy.rule = () => undefined;
    proxy.requests.length = 0;
  });
  after(async () => {
    client?.close();
    direct?.close();
    await proxy?.close();
    await reg?.stop();
  });

  test('a connection cut mid-blob resumes with Range where it stopped; the bytes are exact', async () => {
    let cuts = 0;
    proxy.rule = (r) => (isBlobGet(bigDigest)(r) && cuts++ === 0 ? { kind: 'cut', afterBytes: 1_000_000 } : undefined);
    const got = await readAll(client.openBlob('big', bigDigest, { size: big.length }));
    assert.equal(got.length, big.length);
    assert.ok(got.equals(big));
    const gets = proxy.requests.filter(isBlobGet(bigDigest));
    assert.equal(gets.length, 2);
    assert.equal(gets[0]!.headers.range, undefined);
    assert.equal(gets[1]!.headers.range, 'bytes=1000000-');
  });

  test('several cuts, each resumed from its own point', async () => {
    const points = [100_000, 1_500_000, 700_000];
    let i = 0;
    proxy.rule = (r) => (isBlobGet(bigDigest)(r) && i < points.length ? { kind: 'cut', afterBytes: points[i++]! } : undefined);
    const got = await readAll(client.openBlob('big', bigDigest, { size: big.length }));
    assert.ok(got.equals(big));
    assert.deepEqual(proxy.requests.filter(isBlobGet(bigDigest)).map((r) => r.headers.range),
      [undefined, 'bytes=100000-', 'bytes=1600000-', 'bytes=2300000-']);
  });

  test('a transfer that stalls is dropped after the idle timeout and resumed', async () => {
    const impatient = new RegistryClient({ registry: proxy.host, tlsVerify: false, retry: FAST, idleTimeoutMs: 300 });
    try {
      let n = 0;
      proxy.rule = (r) => (isBlobGet(bigDigest)(r) && n++ === 0 ? { kind: 'stall', afterBytes: 1_234_567 } : undefined);
      const got = await readAll(impatient.openBlob('big', bigDigest, { size: big.length }));
      assert.ok(got.equals(big));
      assert.equal(proxy.requests.filter(isBlobGet(bigDigest))[1]!.headers.range, 'bytes=1234567-');
    } finally {
      impatient.close();
    }
  });

  test('a cache that ignores Range answers 200: the bytes already given are skipped', async () => {
    let n = 0;
    proxy.rule = (r) => {
      if (!isBlobGet(bigDigest)(r)) return undefined;
      n++;
      return n === 1 ? { kind: 'cut', afterBytes: 2_000_000 } : { kind: 'ignore-range' };
    };
    const got = await readAll(client.openBlob('big', bigDigest, { size: big.length }));
    assert.ok(got.equals(big));
    assert.equal(proxy.requests.filter(isBlobGet(bigDigest))[1]!.headers.range, 'bytes=2000000-');
  });

  test('a download that starts at an offset (a kept partial blob) asks Range from there', async () => {
    const got = await readAll(client.openBlob('big', bigDigest, { offset: 3_000_000, size: big.length }));
    assert.ok(got.equals(big.subarray(3_000_000)));
    assert.equal(proxy.requests.filter(isBlobGet(bigDigest))[0]!.headers.range, 'bytes=3000000-');
  });

  test('a connection that keeps dropping without progress: REGISTRY_UNREACHABLE after the retries', async () => {
    let n = 0;
    proxy.rule = (r) => (isBlobGet(bigDigest)(r) ? { kind: 'cut', afterBytes: n++ === 0 ? 500_000 : 0 } : undefined);
    await assert.rejects(readAll(client.openBlob('big', bigDigest, { size: big.length })), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_UNREACHABLE');
      assert.match(err.message, /the connection dropped 4 times in a row at byte 500000 of 4194427/);
      return true;
    });
    assert.equal(proxy.requests.filter(isBlobGet(bigDigest)).length, FAST.attempts, 'the try that made progress counts as the first of its series');
  });

  test('a flipped byte in a blob: DIGEST_MISMATCH before the stream ends', async () => {
    proxy.rule = (r) => (isBlobGet(bigDigest)(r) ? { kind: 'tamper', atByte: 4_000_000 } : undefined);
    await assert.rejects(readAll(client.openBlob('big', bigDigest)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DIGEST_MISMATCH');
      assert.match(err.message, new RegExp(`^Cannot fetch blob ${proxy.host}/big@${bigDigest}: its bytes hash to sha256:`));
      return true;
    });
  });

  test('a flipped byte in a manifest: refused by digest and by the registry\'s Docker-Content-Digest', async () => {
    const image = makeImage([smallLayer('t', 'tamper')], { format: 'oci' });
    await direct.uploadBlob('big', image.layers[0]!.digest as Digest, image.layers[0]!.size, () => Readable.from([image.layers[0]!.bytes]));
    await direct.uploadBlob('big', image.config.digest as Digest, image.config.size, () => Readable.from([image.config.bytes]));
    await direct.putManifest('big', 'm', image.manifest.bytes, image.manifest.mediaType);
    proxy.rule = (r) => (r.path.startsWith('/v2/big/manifests/') ? { kind: 'tamper', atByte: 10 } : undefined);
    await assert.rejects(client.getManifest('big', image.manifest.digest), { code: 'DIGEST_MISMATCH', message: /not to the digest asked for/ });
    await assert.rejects(client.getManifest('big', 'm'), { code: 'DIGEST_MISMATCH', message: new RegExp(`the registry says ${image.manifest.digest}`) });
  });

  test('503 twice, then success: the request is retried with backoff', async () => {
    let n = 0;
    proxy.rule = (r) => (r.path.startsWith('/v2/big/blobs/') && n++ < 2 ? { kind: 'status', status: 503 } : undefined);
    assert.deepEqual(await client.headBlob('big', bigDigest), { size: big.length });
    assert.equal(proxy.requests.filter((r) => r.path.startsWith('/v2/big/blobs/')).length, 3);
  });

  test('429 with Retry-After: the wait it asks for is honoured', async () => {
    let n = 0;
    proxy.rule = (r) => (r.path.startsWith('/v2/big/blobs/') && n++ === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : undefined);
    const t0 = Date.now();
    assert.deepEqual(await client.headBlob('big', bigDigest), { size: big.length });
    assert.ok(Date.now() - t0 >= 950, 'waited the second Retry-After asked for');
  });

  test('503 every time: REGISTRY_ERROR with the registry\'s own error after the retries', async () => {
    proxy.rule = (r) => (r.path.includes('/manifests/') ? { kind: 'status', status: 503, body: '{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}' } : undefined);
    await assert.rejects(client.getManifest('big', 'x'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_ERROR');
      assert.match(err.message, /the registry failed \(UNAVAILABLE: service unavailable; HTTP 503\)$/);
      return true;
    });
    assert.equal(proxy.requests.filter((r) => r.path.includes('/manifests/')).length, FAST.attempts);
  });

  test('a monolithic PUT that fails starts a new upload session, and succeeds', async () => {
    const blob = randomBytes(300_000);
    const digest = sha256(blob) as Digest;
    let puts = 0;
    proxy.rule = (r) => (r.method === 'PUT' && r.path.includes('/blobs/uploads/') && puts++ === 0 ? { kind: 'status', status: 503 } : undefined);
    let opened = 0;
    await client.uploadBlob('up', digest, blob.length, () => { opened++; return Readable.from([blob]); });
    assert.deepEqual(proxy.requests.filter((r) => r.path.startsWith('/v2/up/')).map((r) => r.method), ['POST', 'PUT', 'POST', 'PUT']);
    assert.equal(opened, 2);
    assert.ok((await readAll(direct.openBlob('up', digest))).equals(blob));
  });

  test('a registry that refuses the whole body (413) gets the blob in chunks', async () => {
    const blob = randomBytes(9 * 1024 * 1024);
    const digest = sha256(blob) as Digest;
    proxy.rule = (r) => (r.method === 'PUT' && Number(r.headers['content-length']) > 8 * 1024 * 1024 ? { kind: 'status', status: 413 } : undefined);
    await client.uploadBlob('up413', digest, blob.length, (offset) => Readable.from([blob.subarray(offset)]));
    const methods = proxy.requests.filter((r) => r.path.startsWith('/v2/up413/')).map((r) => r.method);
    assert.deepEqual(methods, ['POST', 'PUT', 'POST', 'PATCH', 'PATCH', 'PUT']);
    const patches = proxy.requests.filter((r) => r.method === 'PATCH');
    assert.deepEqual(patches.map((r) => r.headers['content-range']), [`0-${8 * 1024 * 1024 - 1}`, `${8 * 1024 * 1024}-${blob.length - 1}`]);
    assert.ok((await readAll(direct.openBlob('up413', digest))).equals(blob));
  });

  test('a chunk refused mid-upload resumes where the registry stands', async () => {
    const blob = randomBytes(3 * 1024 * 1024);
    const digest = sha256(blob) as Digest;
    let patches = 0;
    proxy.rule = (r) => (r.method === 'PATCH' && patches++ === 1 ? { kind: 'status', status: 502 } : undefined);
    const offsets: number[] = [];
    await client.uploadBlob('upchunk', digest, blob.length, (offset) => { offsets.push(offset); return Readable.from([blob.subarray(offset)]); }, { chunkSize: 1024 * 1024 });
    assert.deepEqual(offsets, [0, 1024 * 1024], 'the source reopened at the registry\'s offset');
    const methods = proxy.requests.filter((r) => r.path.startsWith('/v2/upchunk/')).map((r) => r.method);
    assert.deepEqual(methods, ['POST', 'PATCH', 'PATCH', 'GET', 'PATCH', 'PATCH', 'PUT']);
    assert.ok((await readAll(direct.openBlob('upchunk', digest))).equals(blob));
  });

  test('a source shorter than the size given fails the upload instead of hanging', async () => {
    const blob = randomBytes(1000);
    await assert.rejects(client.uploadBlob('short', sha256(blob) as Digest, 2000, () => Readable.from([blob])), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DIGEST_MISMATCH');
      assert.match(err.message, /its source gave 1000 bytes, fewer than the 2000 of the blob/);
      return true;
    });
  });

  test('an aborted download stops with AbortError and no retry', async () => {
    const ac = new AbortController();
    const stream = client.openBlob('big', bigDigest, { signal: ac.signal });
    let n = 0;
    await assert.rejects((async () => {
      for await (const c of stream as AsyncIterable<Buffer>) {
        n += c.length;
        if (n > 100_000) ac.abort();
      }
    })(), { name: 'AbortError' });
    assert.equal(proxy.requests.filter(isBlobGet(bigDigest)).length, 1);
  });
});
