/**
 * An in-memory TreeFs for unit tests without root (STYLE.md: one contract, two backends): nodes
 * by absolute path, hard links as shared node objects, whiteouts as 0/0 character devices.
 */
import { OPAQUE_VALUE, OPAQUE_XATTR, WHITEOUT_DEVICE } from '../format/overlay-format.js';
import type { NodeInfo, NodeKind, TreeFs } from './tree-fs.js';

interface FakeNode {
  kind: NodeKind;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  rdev: number;
  ino: bigint;
  content: Buffer;
  target: string;
  xattrs: Map<string, Buffer>;
}

export interface FakeAttrs {
  mode?: number;
  uid?: number;
  gid?: number;
  /** Whole seconds. */
  mtime?: number;
  xattrs?: Record<string, string>;
}

const T0 = 1_700_000_000;

/**
 * @example
 * const fake = new FakeTreeFs();
 * fake.dir('/l1/etc').file('/l1/etc/passwd', 'root:x:0:0\n').whiteout('/up/etc/passwd');
 */
export class FakeTreeFs implements TreeFs {
  readonly #nodes = new Map<string, FakeNode>();
  #nextIno = 1n;

  /** Reads of file content so far (to assert that equal-looking files were compared, or not). */
  contentReads = 0;

  dir(path: string, attrs: FakeAttrs = {}): this {
    return this.#put(path, 'dir', attrs, { mode: 0o755 });
  }

  file(path: string, content: string | Buffer, attrs: FakeAttrs = {}): this {
    this.#put(path, 'file', attrs, { mode: 0o644 });
    this.#nodes.get(path)!.content = Buffer.from(content);
    return this;
  }

  symlink(path: string, target: string, attrs: FakeAttrs = {}): this {
    this.#put(path, 'symlink', attrs, { mode: 0o777 });
    this.#nodes.get(path)!.target = target;
    return this;
  }

  whiteout(path: string): this {
    // rdev 0 (the #put default) is device 0/0.
    return this.#put(path, 'char', {}, { mode: WHITEOUT_DEVICE.mode });
  }

  /** Another name for the node at `existing`. */
  link(path: string, existing: string): this {
    this.#ensureParents(path);
    this.#nodes.set(path, this.#nodes.get(existing)!);
    return this;
  }

  opaque(path: string): this {
    this.#nodes.get(path)!.xattrs.set(OPAQUE_XATTR, Buffer.from(OPAQUE_VALUE));
    return this;
  }

  setXattr(path: string, name: string, value: string): this {
    this.#nodes.get(path)!.xattrs.set(name, Buffer.from(value));
    return this;
  }

  remove(path: string): this {
    for (const p of [...this.#nodes.keys()]) if (p === path || p.startsWith(`${path}/`)) this.#nodes.delete(p);
    return this;
  }

  lstat(path: string): NodeInfo | null {
    const n = this.#nodes.get(path);
    if (n === undefined) return null;
    let nlink = 0;
    for (const other of this.#nodes.values()) if (other === n) nlink++;
    return {
      kind: n.kind, mode: n.mode, uid: n.uid, gid: n.gid, size: n.kind === 'symlink' ? Buffer.byteLength(n.target) : n.kind === 'file' ? n.content.length : 0,
      mtimeNs: BigInt(n.mtime) * 1_000_000_000n, rdev: n.rdev, dev: 1n, ino: n.ino, nlink: n.kind === 'dir' ? 2 : nlink,
    };
  }

  readdir(path: string): string[] {
    const prefix = `${path}/`;
    const out: string[] = [];
    for (const p of this.#nodes.keys()) if (p.startsWith(prefix) && !p.slice(prefix.length).includes('/')) out.push(p.slice(prefix.length));
    return out.reverse();
  }

  readlink(path: string): string {
    return this.#nodes.get(path)!.target;
  }

  xattrNames(path: string): string[] {
    return [...(this.#nodes.get(path)?.xattrs.keys() ?? [])];
  }

  xattr(path: string, name: string): Buffer | null {
    return this.#nodes.get(path)?.xattrs.get(name) ?? null;
  }

  sameContent(a: string, b: string): boolean {
    this.contentReads++;
    return this.#nodes.get(a)!.content.equals(this.#nodes.get(b)!.content);
  }

  #put(path: string, kind: NodeKind, attrs: FakeAttrs, defaults: { mode: number }): this {
    this.#ensureParents(path);
    this.#nodes.set(path, {
      kind, mode: attrs.mode ?? defaults.mode, uid: attrs.uid ?? 0, gid: attrs.gid ?? 0, mtime: attrs.mtime ?? T0, rdev: 0,
      ino: this.#nextIno++, content: Buffer.alloc(0), target: '',
      xattrs: new Map(Object.entries(attrs.xattrs ?? {}).map(([k, v]) => [k, Buffer.from(v)])),
    });
    return this;
  }

  #ensureParents(path: string): void {
    const parts = path.split('/');
    for (let i = 2; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!this.#nodes.has(dir)) this.#put(dir, 'dir', {}, { mode: 0o755 });
    }
  }
}

/**
 * The image the change-tracking unit tests share: layers /l1 (bottom) and /l2 (over it, with a
 * whiteout of /var/cache/sub) and an empty upper /up; lowers top first are ['/l2', '/l1'].
 *
 * @example
 * upperChanges(sampleImage().file('/up/new', 'n'), '/up', ['/l2', '/l1'])
 */
export function sampleImage(): FakeTreeFs {
  return new FakeTreeFs()
    .dir('/l1').dir('/l2').dir('/up')
    .file('/l1/etc/passwd', 'root:x:0:0\n')
    .file('/l1/etc/hosts', '127.0.0.1 localhost\n')
    .file('/l1/var/cache/a', Buffer.alloc(1000))
    .file('/l1/var/cache/sub/b', Buffer.alloc(234))
    .file('/l2/var/cache/c', Buffer.alloc(66))
    .whiteout('/l2/var/cache/sub')
    .file('/l1/opt/x', 'x');
}
