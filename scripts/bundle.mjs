#!/usr/bin/env node
// Bundles the CLI into one file (dist/shibafu.mjs). Measured here: Node spent ~80 ms resolving,
// reading and linking the ~50 ES modules a `shibafu layer list` loads, more than the command's
// own work; one bundled file removes nearly all of that. The native packages stay external.
// The library (dist/src/index.js) is the plain tsc output.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/run.ts'],
  outfile: 'dist/shibafu.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'koffi'],
  sourcemap: true,
  logLevel: 'warning',
});
