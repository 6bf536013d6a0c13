/**
 * What the demo tests share: a temp dir per test (the demo's TMPDIR), the mounts left under it,
 * and a step of a demo's result by id.
 */
import { after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DemoStep } from '../../src/demo/demo-output.js';
import { readMountInfo } from '../../src/sys/mount-info.js';

/** A temp dir for one test, removed after the suite. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(join(tmpdir(), 'shibafu-demo-test-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Mount points at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  const real = fs.realpathSync(dir);
  return readMountInfo().map((m) => m.mountPoint).filter((p) => p === real || p.startsWith(`${real}/`));
}

/** The step `id` of a demo's result (asserted to be there). */
export function stepOf(steps: readonly DemoStep[], id: string): DemoStep {
  const step = steps.find((s) => s.id === id);
  assert.ok(step, `step ${id} is in the result`);
  return step;
}
