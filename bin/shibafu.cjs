#!/usr/bin/env node
// The Node CLI, where `shibafu` (bin/shibafu) ends up when no service runs the command: the
// bundle `npm run build` makes (dist/cli/shibafu.cjs; see scripts/bundle.mjs).
// CommonJS (bin/package.json says so): an ES entry would load Node's ESM loader first. No V8
// flags: --min-semi-space-size saves the scavenges of a short command but costs more in page
// faults than it saves (measured with hyperfine, 2 to 16 MiB).
'use strict';
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const bundle = join(__dirname, '..', 'dist', 'cli', 'shibafu.cjs');
const trace = process.env.SHIBAFU_TRACE_CODE_CACHE === '1' ? (what) => process.stderr.write(`code cache: ${what}\n`) : () => {};
if (!runWithCodeCache()) require(bundle);

/**
 * Runs the bundle compiled with the V8 code cache the build wrote beside it (scripts/bundle.mjs),
 * which spares V8 parsing 440 KB of source in every command (~4 ms). Returns false, having run
 * nothing, when there is no cache or it belongs to another build (its first line is the bundle's
 * first line, the build id); V8 itself ignores data from another V8 version or other flags and
 * compiles from source. The bundle is then run as require() runs a CommonJS file.
 */
function runWithCodeCache() {
  let cache;
  try {
    cache = readFileSync(`${bundle}.cache`);
  } catch {
    trace('none');
    return false;
  }
  const idEnd = cache.indexOf(10);
  // The bundle is ASCII only (scripts/bundle.mjs), so latin1 reads it exactly, and fast.
  const source = readFileSync(bundle, 'latin1');
  if (idEnd < 0 || !source.startsWith(cache.toString('latin1', 0, idEnd + 1))) {
    trace('stale');
    return false;
  }
  const Module = require('node:module');
  const { Script } = require('node:vm');
  const script = new Script(Module.wrap(source), { filename: bundle, cachedData: cache.subarray(idEnd + 1) });
  trace(script.cachedDataRejected ? 'rejected' : 'used');
  const mod = new Module(bundle, module);
  mod.filename = bundle;
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(bundle), mod, bundle, join(bundle, '..'));
  return true;
}
