/**
 * A fresh store per test (or per suite) under os.tmpdir(), removed in an after() hook.
 *
 * Layout of one temp dir:
 *   <base>/store     the store root (on a driver's own file system: test-driver.ts)
 *   <base>/canary    files next to the store that no import may ever touch
 *   <base>/inputs    archives the test writes for the CLI or the library to read
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { openStore, type OpenStoreOptions, type Store } from '../../src/store/store.js';
import { makeDriverStore } from './test-driver.js';

export const isRoot = process.getuid?.() === 0;

/** Why a real-kernel test is skipped, or false when it can run (STYLE.md: skip with a reason). */
export const needsRoot: string | false = isRoot ? false : 'needs root (mknod, chown, trusted.* xattrs)';

export interface TempStore {
  readonly base: string;
  readonly root: string;
  readonly canary: string;
  readonly inputs: string;
  readonly limits: OpenStoreOptions['limits'];
  /** The open store; `reopen()` replaces it. */
  store: Store;
  /** Closes and opens the store again (what the next CLI command would see). */
  reopen(): Store;
  /** Writes an input file and returns its path. */
  input(name: string, data: Buffer | string): string;
  /** Closes the store, unmounts anything under `base` and removes it (also run by after()). */
  cleanup(): void;
}

/**
 * Creates a temp store and registers its cleanup with node:test's `after`. Call it in a
 * `describe` body or a test body (not in a `before` hook: an `after` registered there runs as
 * soon as the hook ends).
 *
 * @example
 * const ts = makeTempStore();
 * await ts.store.createLayer({ name: 'a', source: ts.input('a.tar', tar) });
 */
export function makeTempStore(options: { limits?: OpenStoreOptions['limits']; open?: boolean } = {}): TempStore {
  const base = mkdtempSync(join(tmpdir(), 'shibafu-test-'));
  const backing = makeDriverStore(base);
  const root = backing.root;
  const canary = join(base, 'canary');
  const inputs = join(base, 'inputs');
  mkdirSync(inputs);
  mkdirSync(join(canary, 'etc'), { recursive: true });
  writeFileSync(join(canary, 'etc', 'passwd'), 'root:x:0:0:canary:/root:/bin/sh\n');
  writeFileSync(join(canary, 'keep'), 'untouched\n');
  let store: Store | null = options.open === false ? null : openStore({ root, limits: options.limits });
  let cleaned = false;
  const ts: TempStore = {
    base,
    root,
    canary,
    inputs,
    limits: options.limits,
    get store(): Store {
      if (store === null) store = openStore({ root, limits: options.limits });
      return store;
    },
    set store(s: Store) { store = s; },
    reopen(): Store {
      store?.close();
      store = openStore({ root, limits: options.limits });
      return store;
    },
    input(name: string, data: Buffer | string): string {
      const p = join(inputs, name);
      writeFileSync(p, data);
      return p;
    },
    cleanup(): void {
      if (cleaned) return;
      cleaned = true;
      store?.close();
      store = null;
      unmountUnder(root);
      backing.teardown();
      unmountUnder(base);
      rmSync(base, { recursive: true, force: true });
    },
  };
  after(() => ts.cleanup());
  return ts;
}

/** Unmounts (deepest first) whatever is mounted under `dir`: a failed test must not leak mounts. */
export function unmountUnder(dir: string): void {
  const targets = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((t): t is string => t !== undefined && (t === dir || t.startsWith(`${dir}/`)))
    .map((t) => t.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
    try {
      execFileSync('umount', ['-l', t], { stdio: 'ignore' });
    } catch {
      // Already gone; the rm below reports anything that really stays.
    }
  }
}
