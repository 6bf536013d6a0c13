#!/usr/bin/env node
// Bundles the CLI into one CommonJS file, dist/cli/shibafu.cjs, which bin/shibafu requires.
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
import { build } from 'esbuild';

await build({
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
});
