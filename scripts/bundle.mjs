#!/usr/bin/env node
// Bundles the CLI (dist/cli/). Measured here: Node spent ~80 ms resolving, reading and linking
// the ~50 ES modules a `shibafu layer list` loads, more than the command's own work; a bundle
// removes nearly all of that. Code splitting keeps each command's lazy import() a separate chunk,
// so a short command does not compile (or load the builtins of) the container runtime or the
// importer. The native packages stay external. The library (dist/src/index.js) is the plain tsc
// output.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/run.ts'],
  outdir: 'dist/cli',
  outExtension: { '.js': '.mjs' },
  entryNames: 'shibafu',
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'koffi'],
  sourcemap: true,
  logLevel: 'warning',
});
