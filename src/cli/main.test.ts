import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { main } from './main.js';
import { COMMANDS } from './commands/index.js';
import type { CliIo } from './io.js';

function fakeIo(): { io: CliIo; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let o = '';
  let e = '';
  stdout.on('data', (d: Buffer) => { o += d.toString(); });
  stderr.on('data', (d: Buffer) => { e += d.toString(); });
  const io: CliIo = { stdout, stderr, stdin: new PassThrough(), env: {}, cwd: '/', signal: new AbortController().signal };
  return { io, out: () => o, err: () => e };
}

test('every registered command loads under its own name and has an example', async () => {
  for (const entry of COMMANDS) {
    const cmd = await entry.load();
    assert.equal(cmd.name, entry.name);
    assert.ok(cmd.examples.length > 0, `${cmd.name} has no example`);
  }
});

test('an unknown command is a usage error (exit 2) in the error format', async () => {
  const f = fakeIo();
  assert.equal(await main(['layer', 'frobnicate'], f.io), 2);
  assert.match(f.err(), /^error\[USAGE\]: Cannot run "shibafu layer frobnicate": no such command\nhint: /);
});

test('a wrong number of arguments is a usage error naming the usage line', async () => {
  const f = fakeIo();
  assert.equal(await main(['layer', 'inspect'], f.io), 2);
  assert.match(f.err(), /error\[USAGE\]: Cannot run `shibafu layer inspect`: expected 1 argument, got 0\nhint: Usage: shibafu layer inspect LAYER/);
});

test('an unknown option is a usage error', async () => {
  const f = fakeIo();
  assert.equal(await main(['layer', 'list', '--bogus'], f.io), 2);
  assert.match(f.err(), /^error\[USAGE\]/);
});

test('help for a command prints its usage and examples on stdout', async () => {
  const f = fakeIo();
  assert.equal(await main(['layer', 'create', '--help'], f.io), 0);
  assert.match(f.out(), /Usage: shibafu layer create NAME/);
  assert.match(f.out(), /Examples:\n {2}shibafu layer create/);
});

test('a group without a subcommand lists it on stderr with exit 2', async () => {
  const f = fakeIo();
  assert.equal(await main(['layer'], f.io), 2);
  assert.match(f.err(), /layer create/);
  assert.equal(f.out(), '');
});
