#!/usr/bin/env node
// Bundles the CLI into one CommonJS file, dist/cli/shibafu.cjs, which bin/shibafu.cjs (the Node CLI) requires.
// Measured here, what a command paid before any of its own work:
// - ~80 ms resolving, reading and linking the ~50 ES modules of `shibafu layer list`: hence a
//   bundle. Modules stay lazy inside it: esbuild wraps each one reached by `import()` in an init
//   function, so a short command does not evaluate the runtime or the importer.
// - CommonJS rather than ES modules: an ES entry makes Node load its ESM loader (~20 internal
//   modules, fs/promises and readline among them), and an ES import of a builtin builds its
//   namespace by reading every export, which runs the lazy getters (`node:crypto` loads
//   webcrypto). ~17 ms of CPU per `layer list` against the code-split ES bundle.
// - better-sqlite3's JavaScript is bundled too (from node_modules, 14 files cost ~30 ms); its
//   native addon is loaded by path (src/db/db.ts). koffi stays external: src/sys/libc.ts loads
//   its native module directly, on first use.
// The library (dist/src/index.js) is the plain tsc output, ES modules.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Module } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';
import { build } from 'esbuild';

const result = await build({
  entryPoints: ['src/cli/run.ts'],
  outfile: 'dist/cli/shibafu.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi'],
  // The sources are ES modules that find files and packages from import.meta.url.
  define: { 'import.meta.url': '__shibafuModuleUrl' },
  banner: { js: "const __shibafuModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: true,
  logLevel: 'warning',
  write: false,
});

for (const file of result.outputFiles) {
  mkdirSync(dirname(file.path), { recursive: true });
  if (file.path.endsWith('.map')) {
    // The id line added at the top (below) moves every generated line down by one: an empty
    // first line of mappings says so.
    const map = JSON.parse(file.text);
    writeFileSync(file.path, JSON.stringify({ ...map, mappings: `;${map.mappings}` }));
    continue;
  }
  if (!file.path.endsWith('.cjs')) {
    writeFileSync(file.path, file.contents);
    continue;
  }
  const body = asciiOnly(plainBuiltins(file.text));
  // The first line names the build (a hash of the rest), so bin/shibafu.cjs can tell that a code
  // cache belongs to this very bundle by comparing one line.
  const id = `// shibafu build ${createHash('sha256').update(body).digest('hex').slice(0, 32)}`;
  const text = `${id}\n${body}`;
  writeFileSync(file.path, text);
  writeFileSync(`${file.path}.cache`, codeCache(id, text, file.path));
}

/**
 * One non-ASCII character anywhere in the file (esbuild escapes them in code, not in the comments
 * it keeps) makes V8 hold the whole 440 KB source as a two-byte string: reading and compiling the
 * bundle then took 7.5 + 20.5 ms instead of 6.0 + 16.9 ms (means of 12 fresh processes), in every
 * command. What is left is escaped; only comments change.
 */
function asciiOnly(text) {
  return text.replace(/[^\x00-\x7f]/gu, (c) => `\\u{${c.codePointAt(0).toString(16)}}`);
}

/**
 * `import * as fs from 'node:fs'` becomes `fs = __toESM(require("node:fs"), 1)` in CommonJS
 * output: a copy of the module's ~100 properties as getters, made again in each of the 34 modules
 * that import it that way (~5 ms of every command, measured with --cpu-prof). For a builtin the
 * copy only adds `default`, which no namespace import of ours reads: the module itself is used
 * instead. A variable whose `.default` is read (a default import) keeps esbuild's form. Only the
 * declaration lines change, so the source map stays right apart from columns there.
 */
function plainBuiltins(text) {
  return text.replace(/\b([\w$]+) = __toESM\(require\("(node:[\w/]+)"\), 1\);/g, (whole, name, mod) =>
    new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\.default\\b`).test(text) ? whole : `${name} = require("${mod}");`);
}

/**
 * The V8 code cache of the bundle, as bin/shibafu.cjs compiles it (Module.wrap, same file name):
 * with it, V8 skips parsing the 440 KB source, ~4 ms of every command (measured with hyperfine:
 * `--version` 72.6 -> 69.3 ms, `run --rm` 164.4 -> 160.7 ms). Made right after compiling, so it
 * holds the top-level code; a function first called later is compiled then, as without a cache.
 * Layout: the bundle's first line (its build id), a newline, V8's data. V8 itself refuses data
 * from another V8 version or other flags (the bundle is then compiled from source).
 */
function codeCache(id, text, filename) {
  const data = new Script(Module.wrap(text), { filename }).createCachedData();
  return Buffer.concat([Buffer.from(`${id}\n`, 'latin1'), data]);
}
