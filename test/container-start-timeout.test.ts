/**
 * `container start` (detached) when the runtime never starts the process (root, real overlay
 * mounts; a stand-in runtime that hangs): the start fails with RUNTIME_FAILED after the timeout,
 * and nothing of it is left running (podman deletes such a container from the runtime too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerConfig } from '../src/container/container-config.js';
import { containerContext } from '../src/container/container-context.js';
import { resolveContainer } from '../src/container/container-resolve.js';
import { startDetached } from '../src/container/container-start.js';
import { processAlive } from '../src/sys/child-process.js';
import { TarBuilder } from './helpers/tar-builder.js';
import { makeTempStore, needsRoot } from './helpers/temp-store.js';
import { containersOf } from '../src/index.js';

/** Alive and not a zombie (an orphan killed here is reaped by PID 1, which may be slow to). */
function running(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('a runtime that does not start the container in time: RUNTIME_FAILED, killed, recorded as ended', { skip: needsRoot }, async () => {
  const ts = makeTempStore();
  await ts.store.createLayer({ name: 'base', source: ts.input('base.tar', new TarBuilder().dir('bin').file('bin/true', '#!/bin/sh\n', { mode: 0o755 }).build()) });
  // Hangs as a runtime stuck in create would: never writes the pid file, never exits.
  const pidOf = join(ts.inputs, 'runtime.pid');
  const runtime = join(ts.inputs, 'hanging-runtime');
  writeFileSync(runtime, `#!/bin/sh\necho $$ > ${pidOf}\nexec sleep 600\n`);
  chmodSync(runtime, 0o755);
  const containers = await containersOf(ts.store);
  const view = await containers.create({ layers: ['base'], name: 'stuck', config: containerConfig({ args: ['/bin/true'], runtime }) });
  const cc = containerContext(ts.store.context);
  const row = resolveContainer(ts.store.context.db, view.id);
  await assert.rejects(startDetached(cc, row, { timeoutMs: 300 }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'RUNTIME_FAILED');
    assert.match(err.message, /^Cannot start container "stuck": the runtime did not start it within 0\.3 s; it was killed and nothing of it runs$/);
    return true;
  });
  const pid = Number(readFileSync(pidOf, 'utf8'));
  // SIGKILL is delivered asynchronously: allow the process a moment to die.
  for (let i = 0; i < 200 && running(pid); i++) await sleep(10);
  assert.equal(running(pid), false, 'the hanging runtime was killed');
  const after = await containers.inspect('stuck');
  assert.equal(after.state, 'exited');
  assert.equal(after.exitStatus, 125);
});
