/**
 * The demos through bin/shibafu: --json, the prose, and Ctrl-C. The SIGINT tests pause the demo
 * with --step (so the signal lands at a known point: after a step's output, with its mount live),
 * send SIGINT, and check that nothing is left mounted and the temp dir is gone.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { collect, runCli, startCli } from './helpers/cli.js';
import { mountsUnder, tempDir } from './helpers/demo-test.js';
import { needsRoot } from './helpers/temp-store.js';

const PROMPT = 'Enter: next step';

/** Resolves once `n` prompts have appeared on the child's stderr (each follows a step's output). */
function waitForPrompts(child: ChildProcess, n: number, onPrompt: (count: number) => void = () => {}): Promise<void> {
  let text = '';
  let seen = 0;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for prompt ${n}; stderr so far:\n${text}`)), 60_000);
    child.stderr?.on('data', (chunk: Buffer | string) => {
      text += String(chunk);
      const count = text.split(PROMPT).length - 1;
      while (seen < count) {
        seen++;
        if (seen === n) {
          clearTimeout(timer);
          resolve();
          return;
        }
        onPrompt(seen);
      }
    });
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`exited before prompt ${n}; stderr:\n${text}`));
    });
  });
}

/**
 * Starts `shibafu demo ... --step`, presses Enter at the first prompts, and sends SIGINT at prompt
 * `at`; returns what the CLI printed and how it exited.
 */
async function interruptAt(args: string[], at: number, tmp: string): Promise<Awaited<ReturnType<typeof collect>>> {
  // stdin stays open: the demo waits on it at each pause.
  const child = startCli([...args, '--step'], { env: { TMPDIR: tmp }, stdin: () => {} });
  const done = collect(child);
  await waitForPrompts(child, at, () => child.stdin?.write('\n'));
  assert.ok(mountsUnder(tmp).length > 0, 'the demo has a mount live while it pauses');
  child.kill('SIGINT');
  return done;
}

function sandboxOf(stdout: string): string {
  const m = /^ {2}sandbox +(\S+)/m.exec(stdout);
  assert.ok(m, `the demo prints its sandbox:\n${stdout}`);
  return m[1] as string;
}

describe('shibafu demo (CLI, real kernel)', { skip: needsRoot }, () => {
  test('demo overlay prints each step with its upper dir; --json gives the same facts', async () => {
    const tmp = tempDir();
    const prose = await runCli(['demo', 'overlay'], { env: { TMPDIR: tmp } });
    assert.equal(prose.status, 0, prose.stderr);
    for (const id of 'abcdefg') assert.match(prose.stdout, new RegExp(`^\\[${id}\\] `, 'm'));
    assert.match(prose.stdout, /merged\/test\.txt += "from app" \(from app\)/);
    assert.match(prose.stdout, /c--------- +0, 0 +base\.txt +whiteout \(c 0 0\)/);
    assert.match(prose.stdout, /^Cleaned up:$/m);

    const json = await runCli(['demo', 'overlay', '--json'], { env: { TMPDIR: tmp } });
    assert.equal(json.status, 0, json.stderr);
    const result = JSON.parse(json.stdout) as { demo: string; steps: { id: string; facts: Record<string, unknown>; upper: unknown[] | null }[] };
    assert.equal(result.demo, 'overlay');
    assert.deepEqual(result.steps.map((s) => s.id), ['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    assert.equal(result.steps[0]?.facts.testTxt, 'from app\n');
    assert.deepEqual(result.steps[2]?.upper, []);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('demo cow --json reports the copy-up in the upper dir', async () => {
    const tmp = tempDir();
    const r = await runCli(['demo', 'cow', '--size', '2M', '--json'], { env: { TMPDIR: tmp } });
    assert.equal(r.status, 0, r.stderr);
    const result = JSON.parse(r.stdout) as { size: number; steps: { id: string; upper: { path: string; size: number }[] }[]; timings: Record<string, number> };
    assert.equal(result.size, 2 * 1024 * 1024);
    assert.deepEqual(result.steps[1]?.upper, []);
    assert.deepEqual(result.steps[2]?.upper.map((e) => [e.path, e.size]), [['big.bin', 2 * 1024 * 1024 + 1]]);
    assert.equal(typeof result.timings.copyUpMs, 'number');
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('Ctrl-C during demo overlay unmounts and removes everything', async () => {
    const tmp = tempDir();
    const r = await interruptAt(['demo', 'overlay'], 3, tmp);
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stderr, /^error\[INTERRUPTED\]/m);
    assert.match(r.stdout, /^\[c\] /m);
    assert.doesNotMatch(r.stdout, /^\[d\] /m, 'stopped after step c');
    assert.match(r.stdout, /^ {2}removed layer base$/m);
    assert.equal(fs.existsSync(sandboxOf(r.stdout)), false);
    assert.deepEqual(mountsUnder(tmp), []);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('Ctrl-C during demo cow unmounts and removes everything', async () => {
    const tmp = tempDir();
    const r = await interruptAt(['demo', 'cow', '--size', '2M'], 3, tmp);
    assert.equal(r.status, 130, r.stderr);
    assert.match(r.stdout, /^\[3\] /m);
    assert.doesNotMatch(r.stdout, /^\[4\] /m);
    assert.equal(fs.existsSync(sandboxOf(r.stdout)), false);
    assert.deepEqual(mountsUnder(tmp), []);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });
});
