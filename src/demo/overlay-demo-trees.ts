/**
 * The small trees the overlay demo builds its layers from: the seed's Step 2 stack (an OS base, a
 * Python runtime, an application), each with its own `test.txt`, plus the files Step 1 experiments
 * on (`base.txt`, `shared.txt`) and a `config/` directory two layers contribute to.
 */
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';

export interface DemoFile {
  readonly content: string;
  readonly mode: number;
}

export interface DemoLayerSpec {
  readonly name: string;
  /** What the layer stands for, as the seed names it. */
  readonly role: string;
  /** Relative path → file. Directories are implied by the paths. */
  readonly files: { readonly [path: string]: DemoFile };
}

const file = (content: string, mode = 0o644): DemoFile => ({ content, mode });

/** Bottom first: each layer is the parent of the next. */
export const DEMO_LAYERS: readonly DemoLayerSpec[] = [
  {
    name: 'base',
    role: 'OS base',
    files: {
      'test.txt': file('from base\n'),
      'base.txt': file('base content\n'),
      'shared.txt': file('shared content\n'),
      'config/app.conf': file('debug = false\n'),
      'config/log.conf': file('level = info\n'),
    },
  },
  {
    name: 'python',
    role: 'runtime',
    files: {
      'test.txt': file('from python\n'),
      // A stand-in: the demo needs the layer's shape, not a real interpreter.
      'usr/bin/python3': file('#!/bin/sh\necho "Python 3 (a stand-in)"\n', 0o755),
      'config/python.conf': file('path = /usr/lib/python3\n'),
    },
  },
  {
    name: 'app',
    role: 'application',
    files: {
      'test.txt': file('from app\n'),
      'app/app.py': file("print('Hello from layered container')\n"),
    },
  },
];

/**
 * Writes a layer's files under `dir` (created), with their modes; directories are 0755.
 *
 * @example
 * writeTree('/tmp/demo/trees/base', DEMO_LAYERS[0].files);
 */
export function writeTree(dir: string, files: DemoLayerSpec['files']): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (const [path, f] of Object.entries(files)) {
    const abs = join(dir, path);
    fs.mkdirSync(dirname(abs), { recursive: true, mode: 0o755 });
    fs.writeFileSync(abs, f.content, { mode: f.mode });
    // The umask must not decide a layer's modes.
    fs.chmodSync(abs, f.mode);
  }
}
