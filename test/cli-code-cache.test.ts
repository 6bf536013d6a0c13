/**
 * bin/shibafu.cjs runs the bundle with the V8 code cache the build wrote beside it, and only with the
 * cache of that very bundle: a cache of another build, a truncated one or none at all leave it
 * to compile the source, and the command works the same. Each case runs on a copy of bin/,
 * dist/cli/ and package.json (the other tests use the real ones).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const VERSION = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** A copy of the CLI in a temp dir; `change` edits its cache before the run. */
function runCopy(t: { after(fn: () => void): void }, change: (cache: string) => void): { stdout: string; trace: string; status: number | null } {
  const dir = mkdtempSync(join(tmpdir(), 'shibafu-code-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(REPO, 'bin'), join(dir, 'bin'), { recursive: true });
  cpSync(join(REPO, 'dist', 'cli'), join(dir, 'dist', 'cli'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(dir, 'package.json')); // where --version reads it
  change(join(dir, 'dist', 'cli', 'shibafu.cjs.cache'));
  const r = spawnSync(process.execPath, [join(dir, 'bin', 'shibafu.cjs'), '--version'], {
    encoding: 'utf8', env: { ...process.env, SHIBAFU_TRACE_CODE_CACHE: '1' },
  });
  return { stdout: r.stdout, trace: r.stderr.trim(), status: r.status };
}

test('the build writes a code cache whose first line is the bundle\'s own, and the CLI uses it', (t) => {
  const bundle = readFileSync(join(REPO, 'dist', 'cli', 'shibafu.cjs'), 'latin1');
  const cache = readFileSync(join(REPO, 'dist', 'cli', 'shibafu.cjs.cache'));
  const firstLine = bundle.slice(0, bundle.indexOf('\n') + 1);
  assert.match(firstLine, /^\/\/ shibafu build [0-9a-f]{32}\n$/);
  assert.equal(cache.toString('latin1', 0, firstLine.length), firstLine);
  assert.deepEqual(runCopy(t, () => {}), { stdout: `shibafu ${VERSION}\n`, trace: 'code cache: used', status: 0 });
});

test('a cache of another build is not used; the command works the same', (t) => {
  const r = runCopy(t, (file) => {
    const data = readFileSync(file);
    // Same length, another build id: only the id line tells them apart.
    const id = data.toString('latin1', 0, data.indexOf(10));
    writeFileSync(file, Buffer.concat([Buffer.from(id.replace(/[0-9a-f]$/, (c) => (c === '0' ? '1' : '0')), 'latin1'), data.subarray(id.length)]));
  });
  assert.deepEqual(r, { stdout: `shibafu ${VERSION}\n`, trace: 'code cache: stale', status: 0 });
});

test('V8 refuses a truncated cache, and the bundle is compiled from source', (t) => {
  const r = runCopy(t, (file) => {
    const data = readFileSync(file);
    writeFileSync(file, data.subarray(0, data.indexOf(10) + 1 + 64));
  });
  assert.deepEqual(r, { stdout: `shibafu ${VERSION}\n`, trace: 'code cache: rejected', status: 0 });
});

test('without a cache the bundle is required as before', (t) => {
  const r = runCopy(t, (file) => rmSync(file));
  assert.deepEqual(r, { stdout: `shibafu ${VERSION}\n`, trace: 'code cache: none', status: 0 });
});
