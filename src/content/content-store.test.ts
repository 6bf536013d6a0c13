/**
 * The content store on its own: resumable ingests, verification on commit and on read, two
 * ingests of one digest, expiry of abandoned ingests, delete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../store/store.js';
import type { Digest } from '../ids.js';
import type { ContentStore } from './content-store.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): Digest => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

async function tempContent(t: { after(fn: () => void): void }): Promise<{ root: string; store: Store; content: ContentStore }> {
  const root = join(mkdtempSync(join(tmpdir(), 'shibafu-content-')), 'store');
  const store = openStore({ root });
  t.after(() => { store.close(); rmSync(join(root, '..'), { recursive: true, force: true }); });
  return { root, store, content: await store.content() };
}

const blobFiles = (root: string): string[] => readdirSync(join(root, 'blobs', 'sha256'));
const ingests = (root: string): string[] => readdirSync(join(root, 'blobs', 'ingest'));

test('an interrupted ingest resumes by its ref at the partial length, with the hash state restored', async (t) => {
  const { root, content } = await tempContent(t);
  const data = randomBytes(3 * MiB + 123);
  const part = 1 * MiB + 77;
  const first = await content.ingest('download-1');
  assert.equal(first.offset, 0);
  await first.write(data.subarray(0, part));
  first.close(); // dropped without a commit, as a killed download would be
  assert.deepEqual(blobFiles(root), []);
  assert.equal(ingests(root).length, 1);

  const again = await content.ingest('download-1');
  assert.equal(again.offset, part);
  await again.write(data.subarray(part));
  const committed = await again.commit({ digest: sha(data), size: data.length, mediaType: 'application/octet-stream' });
  assert.equal(committed.blob.digest, sha(data));
  assert.equal(committed.existed, false);
  assert.ok(readFileSync(join(root, 'blobs', 'sha256', sha(data).slice(7))).equals(data));
  assert.deepEqual(content.info(sha(data)), { digest: sha(data), size: data.length, mediaType: 'application/octet-stream', created: committed.blob.created });
  assert.deepEqual(ingests(root), [], 'the ingest dir goes with its commit');
});

test('a second writer of the same ref gets STORE_BUSY; abort drops the bytes', async (t) => {
  const { root, content } = await tempContent(t);
  const w = await content.ingest('sha256:feed');
  await w.write(Buffer.from('partial'));
  await assert.rejects(content.ingest('sha256:feed'), { code: 'STORE_BUSY' });
  assert.throws(() => content.abort('sha256:feed'), { code: 'STORE_BUSY' });
  w.close();
  assert.equal(content.abort('sha256:feed'), true);
  assert.deepEqual(ingests(root), []);
  assert.equal((await content.ingest('sha256:feed')).offset, 0);
});

test('a commit whose bytes do not match: DIGEST_MISMATCH and nothing stored', async (t) => {
  const { root, content } = await tempContent(t);
  const w = await content.ingest('wrong');
  await w.write(Buffer.from('not what was asked for'));
  await assert.rejects(w.commit({ digest: sha(Buffer.from('something else')) }), { code: 'DIGEST_MISMATCH' });
  const sized = await content.ingest('wrong-size');
  await sized.write(Buffer.from('1234'));
  await assert.rejects(sized.commit({ size: 5 }), { code: 'DIGEST_MISMATCH' });
  assert.deepEqual(blobFiles(root), []);
  assert.deepEqual(ingests(root), []);
  assert.deepEqual([...content.walk()], []);
});

test('two ingests of one digest both commit and leave one intact blob', async (t) => {
  const { root, content } = await tempContent(t);
  const data = randomBytes(2 * MiB);
  const [a, b] = await Promise.all([content.ingest('one'), content.ingest('two')]);
  await Promise.all([a.write(data), b.write(data)]);
  const results = await Promise.all([a.commit({ digest: sha(data) }), b.commit({ digest: sha(data) })]);
  assert.deepEqual(results.map((r) => r.existed).sort(), [false, true]);
  assert.deepEqual(blobFiles(root), [sha(data).slice(7)]);
  assert.ok(readFileSync(join(root, 'blobs', 'sha256', sha(data).slice(7))).equals(data));
  assert.deepEqual([...content.walk()].map((r) => r.digest), [sha(data)]);
  assert.deepEqual(ingests(root), []);
});

test('the caller\'s rows commit in the blob\'s transaction, or neither does', async (t) => {
  const { root, content } = await tempContent(t);
  const data = Buffer.from('config');
  const w = await content.ingest('cfg');
  await w.write(data);
  await assert.rejects(w.commit({ inTransaction: () => { throw new Error('caller failed'); } }), /caller failed/);
  assert.deepEqual(blobFiles(root), [], 'the renamed file went back with the rolled back row');
  assert.equal(content.has(sha(data)), false);
  const again = await content.ingest('cfg');
  assert.equal(again.offset, data.length, 'a failed publish keeps the bytes for a retry');
  const r = await again.commit({ inTransaction: (p) => p.blob.digest });
  assert.equal(r.result, sha(data));
});

test('abandoned ingests expire; fresh ones stay', async (t) => {
  const { root, content } = await tempContent(t);
  const old = await content.ingest('old');
  await old.write(Buffer.from('abc'));
  old.close();
  assert.deepEqual(content.sweepIngests(), []);
  assert.equal(ingests(root).length, 1);
  assert.deepEqual(content.sweepIngests({ nowMs: Date.now() + 25 * 3600 * 1000 }), [{ ref: 'old', bytes: 3 }]);
  assert.deepEqual(ingests(root), []);
});

test('a corrupt blob is refused when read; delete removes row and file', async (t) => {
  const { root, content } = await tempContent(t);
  const data = randomBytes(3 * MiB);
  const w = await content.ingest('x');
  await w.write(data);
  await w.commit();
  const chunks: Buffer[] = [];
  for await (const c of content.read(sha(data))) chunks.push(c as Buffer);
  assert.ok(Buffer.concat(chunks).equals(data));

  const file = join(root, 'blobs', 'sha256', sha(data).slice(7));
  const bad = Buffer.from(data);
  bad[2 * MiB + 5] = (bad[2 * MiB + 5] as number) ^ 0x01;
  writeFileSync(file, bad);
  await assert.rejects(async () => { for await (const c of content.read(sha(data))) void c; }, { code: 'DIGEST_MISMATCH' });
  writeFileSync(file, data.subarray(0, 100));
  await assert.rejects(async () => { for await (const c of content.read(sha(data))) void c; }, { code: 'DIGEST_MISMATCH' });

  content.delete(sha(data));
  assert.equal(existsSync(file), false);
  assert.deepEqual(readdirSync(join(root, 'blobs', 'trash')), []);
  assert.throws(() => content.info(sha(data)), { code: 'BLOB_NOT_FOUND' });
  assert.throws(() => content.delete(sha(data)), { code: 'BLOB_NOT_FOUND' });
  assert.throws(() => content.read(sha(data)), { code: 'BLOB_NOT_FOUND' });
});

test('the open\'s sweep finishes interrupted removals and commits', async (t) => {
  const { root, store, content } = await tempContent(t);
  const data = Buffer.from('kept');
  const w = await content.ingest('k');
  await w.write(data);
  await w.commit();
  const file = join(root, 'blobs', 'sha256', sha(data).slice(7));
  const trashed = join(root, 'blobs', 'trash', sha(data).slice(7));
  // A removal killed before its commit: the file is in the trash, the row still there.
  renameSync(file, trashed);
  store.sweep();
  assert.ok(readFileSync(file).equals(data));
  assert.equal(existsSync(trashed), false);
  // A removal killed after its commit, before the unlink: the row is gone.
  const other = Buffer.from('gone');
  writeFileSync(join(root, 'blobs', 'trash', sha(other).slice(7)), other);
  store.sweep();
  assert.deepEqual(readdirSync(join(root, 'blobs', 'trash')), []);

  // An ingest killed between its publishing rename and the commit: a file without a row, named
  // by the ingest's marker; the next writer of the ref (or the sweep) removes it.
  const lost = Buffer.from('published, never committed');
  const again = await content.ingest('killed');
  await again.write(lost);
  again.close();
  const dir = join(root, 'blobs', 'ingest', ingests(root)[0] as string);
  writeFileSync(join(dir, 'committing'), sha(lost));
  renameSync(join(dir, 'data'), join(root, 'blobs', 'sha256', sha(lost).slice(7)));
  store.sweep();
  assert.equal(existsSync(join(root, 'blobs', 'sha256', sha(lost).slice(7))), false);
  assert.equal(existsSync(join(dir, 'committing')), false);
  assert.equal((await content.ingest('killed')).offset, 0);
});
