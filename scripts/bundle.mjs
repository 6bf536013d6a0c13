#!/usr/bin/env node
// Bundles the CLI (dist/cli/). Measured here: Node spent ~80 ms resolving, reading and linking
// the ~50 ES modules a `shibafu layer list` loads, more than the command's own work; a bundle
// removes nearly all of that. Code splitting keeps each command's lazy import() a separate chunk,
// so a short command does not compile (or load the builtins of) the container runtime or the
// importer. better-sqlite3's JavaScript is bundled too: loaded from node_modules through the ESM
// loader's CommonJS translation it cost ~30 ms of every command that opens the store (14 files,
// each read twice); its native addon is loaded by path (src/db/db.ts). koffi stays external (its
// entry is loaded lazily, and src/sys/libc.ts loads its native module directly). Bundled CommonJS
// code calls require() for Node's builtins, so every output file gets a module-scoped require.
// The library (dist/src/index.js) is the plain tsc output.
import { builtinModules } from 'node:module';
import { build } from 'esbuild';

// Node's builtins through require(), not import: Node 20 builds the ES module namespace of a
// builtin by reading every export, which runs its lazy getters: `import ... from 'node:fs'` loads
// fs/promises and readline, `node:crypto` loads webcrypto (~30 internal modules that a command
// never uses). A CommonJS stub per builtin gives esbuild plain property reads instead.
const builtins = new Set(builtinModules);
const builtinsByRequire = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, '');
      if (!builtins.has(name) || args.namespace === 'builtin') return undefined;
      return { path: name, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require('node:${args.path}');`,
      loader: 'js',
    }));
  },
};

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
  external: ['koffi'],
  banner: { js: "import { createRequire as __shibafuCreateRequire } from 'node:module'; const require = __shibafuCreateRequire(import.meta.url);" },
  plugins: [builtinsByRequire],
  sourcemap: true,
  logLevel: 'warning',
});
