/**
 * Overlay's on-disk format: the one definition of how a layer directory in overlay's format marks
 * deletions and opaque directories, and which of overlay's own xattrs a reader must skip or refuse
 * (Documentation/filesystems/overlayfs.rst). Every reader and writer of layer directories in
 * src/tar, src/changes, src/store and src/demo asks this module instead of spelling the format out.
 *
 *  - whiteout: a character device 0/0 (mode 0 as the kernel makes them); the kernel also accepts
 *    an empty regular file carrying the `overlay.whiteout` xattr (overlay-in-overlay), which
 *    readers accept and writers never make;
 *  - opaque directory: the xattr `overlay.opaque` = "y" (the kernel also writes "x" on directories
 *    it merged, which hides nothing);
 *  - namespace: `trusted.overlay.*` for mounts made by root (the store's), `user.overlay.*` for
 *    mounts with the `userxattr` option (rootless); readers accept both, writers use one;
 *  - overlay's private bookkeeping (origin, impure, nlink, uuid, upper, ...) describes one mount's
 *    upper dir, never a layer's content: readers skip it. `redirect` (redirect_dir) and `metacopy`
 *    change what the merged view shows in ways a changeset cannot express: readers refuse them.
 */
import { ShibafuError } from '../errors.js';

/** `trusted` for mounts by root (the store's default), `user` for mounts with `userxattr`. */
export type OverlayNamespace = 'trusted' | 'user';

/** The namespace the store writes: it runs as root and mounts without `userxattr`. */
export const DEFAULT_OVERLAY_NAMESPACE: OverlayNamespace = 'trusted';

/** The prefix of overlay's private xattrs in each namespace. */
export const OVERLAY_XATTR_PREFIX = { trusted: 'trusted.overlay.', user: 'user.overlay.' } as const satisfies Record<OverlayNamespace, string>;

/** The opaque-directory xattr in each namespace. */
export const OPAQUE_XATTRS = { trusted: 'trusted.overlay.opaque', user: 'user.overlay.opaque' } as const satisfies Record<OverlayNamespace, string>;

/** The opaque xattr of the store's namespace (`trusted.overlay.opaque`). */
export const OPAQUE_XATTR = OPAQUE_XATTRS.trusted;

/** The value of the opaque xattr that hides the layers below ("x" does not). */
export const OPAQUE_VALUE = 'y';
const OPAQUE_VALUE_BYTES = Buffer.from(OPAQUE_VALUE);

/** A whiteout's device numbers and mode, as the kernel makes them (vfs_whiteout: S_IFCHR, 0/0). */
export const WHITEOUT_DEVICE = { major: 0, minor: 0, mode: 0 } as const;

/** What a stat result needs for the whiteout test: its type and device number. */
export interface StatLike {
  readonly kind: string;
  readonly rdev: number | bigint;
}

/**
 * True for overlay's whiteout: a character device 0/0.
 *
 * @example
 * isWhiteout(lstatx(`${upper}/etc/hosts`)!) // true after `rm /etc/hosts` in the container
 */
export function isWhiteout(st: StatLike): boolean {
  // dev_t 0 is major 0 and minor 0 whatever the encoding.
  return st.kind === 'char' && (st.rdev === 0 || st.rdev === 0n);
}

/**
 * True when an opaque xattr's value hides the layers below ("y"; the kernel's "x" does not).
 *
 * @example
 * isOpaqueValue(lgetxattr(dir, OPAQUE_XATTR)) // true for "y"
 */
export function isOpaqueValue(value: Buffer | null | undefined): boolean {
  return value !== null && value !== undefined && value.length === 1 && value[0] === OPAQUE_VALUE_BYTES[0];
}

/**
 * True when the directory is opaque, read through `get` (lgetxattr of the directory). `namespace`
 * names the one to ask, for hot paths on trees the store wrote itself (one lgetxattr); 'any' asks
 * trusted then user, as a reader of a tree from elsewhere must.
 *
 * @example
 * isOpaque((name) => lgetxattr(dir, name)) // true after `rm -rf /opt/o; mkdir /opt/o` in a container
 */
export function isOpaque(get: (name: string) => Buffer | null, namespace: OverlayNamespace | 'any' = 'any'): boolean {
  if (namespace !== 'any') return isOpaqueValue(get(OPAQUE_XATTRS[namespace]));
  return isOpaqueValue(get(OPAQUE_XATTRS.trusted)) || isOpaqueValue(get(OPAQUE_XATTRS.user));
}

/**
 * The opaque xattr among a node's xattr names, if any (trusted first): a listing tells whether
 * the value needs reading at all.
 *
 * @example
 * opaqueXattrIn(llistxattr(dir)) // 'trusted.overlay.opaque' or null
 */
export function opaqueXattrIn(names: readonly string[]): string | null {
  if (names.includes(OPAQUE_XATTRS.trusted)) return OPAQUE_XATTRS.trusted;
  return names.includes(OPAQUE_XATTRS.user) ? OPAQUE_XATTRS.user : null;
}

/**
 * Overlay's private xattrs (`trusted.overlay.*`, `user.overlay.*`): never part of a layer's content.
 *
 * @example
 * isOverlayPrivateXattr('trusted.overlay.origin') === true
 */
export function isOverlayPrivateXattr(name: string): boolean {
  return name.startsWith(OVERLAY_XATTR_PREFIX.trusted) || name.startsWith(OVERLAY_XATTR_PREFIX.user) || name.startsWith(FUSE_OVERLAY_XATTR_PREFIX);
}

/** fuse-overlayfs's own bookkeeping (the origin of a copied-up file), private as the kernel's. */
export const FUSE_OVERLAY_XATTR_PREFIX = 'user.fuseoverlayfs.';

/**
 * A mark fuse-overlayfs leaves in an upper it writes, besides the kernel's format it also uses:
 * `.wh..wh..opq` in a directory it made opaque (it sets the opaque xattr too), a `.wh.NAME` file as
 * the whiteout of NAME where it could not mknod one, and other `.wh.` entries it hides from its
 * own listings. A `.wh.` name is never content (the OCI spec reserves the prefix, and the importer
 * converts it), so a reader of an upper skips these, honouring the whiteouts.
 */
export type UpperMark = { readonly kind: 'opaque' } | { readonly kind: 'whiteout'; readonly name: string } | { readonly kind: 'hidden' };

/**
 * The mark an upper entry named `name` is, or null for content.
 *
 * @example
 * upperMark('.wh.passwd', true) // { kind: 'whiteout', name: 'passwd' }
 */
export function upperMark(name: string, isFile: boolean): UpperMark | null {
  if (!name.startsWith('.wh.')) return null;
  if (name === '.wh..wh..opq') return { kind: 'opaque' };
  const target = name.slice('.wh.'.length);
  if (isFile && target !== '' && !target.startsWith('.wh.')) return { kind: 'whiteout', name: target };
  return { kind: 'hidden' };
}

/**
 * True for the xattr that makes an empty regular file a whiteout (either namespace).
 *
 * @example
 * isWhiteoutXattr('user.overlay.whiteout') === true
 */
export function isWhiteoutXattr(name: string): boolean {
  return name === `${OVERLAY_XATTR_PREFIX.trusted}whiteout` || name === `${OVERLAY_XATTR_PREFIX.user}whiteout`;
}

/** Overlay features whose on-disk state no changeset can express. */
export type UnreadableOverlayFeature = 'redirect_dir' | 'metacopy';

/**
 * Which unreadable feature a node's xattr names show, if any: `redirect` (a directory renamed
 * with redirect_dir: its entries live under another name below) or `metacopy` (a file whose data
 * stays in a lower layer: as a layer it would be an empty file). Either namespace.
 *
 * @example
 * unreadableOverlayFeature(['trusted.overlay.redirect']) // 'redirect_dir'
 */
export function unreadableOverlayFeature(names: readonly string[]): UnreadableOverlayFeature | null {
  for (const name of names) {
    if (!isOverlayPrivateXattr(name)) continue;
    if (name.endsWith('.overlay.redirect')) return 'redirect_dir';
    if (name.endsWith('.overlay.metacopy')) return 'metacopy';
  }
  return null;
}

/**
 * The error for overlay features shibafu never mounts with, whose on-disk state it cannot read right.
 *
 * @example
 * throw unsupportedOverlayFeature('list the changes', 'var/moved', 'redirect_dir');
 */
export function unsupportedOverlayFeature(what: string, rel: string, feature: UnreadableOverlayFeature): ShibafuError {
  return new ShibafuError('UNSUPPORTED', `Cannot ${what}: "/${rel}" was written with overlay's ${feature} feature, which shibafu does not support`, {
    hint: 'shibafu mounts uppers without redirect_dir and metacopy (renamed directories are copied, chmod copies up the file); this upper was written by another overlay mount. Compare the merged trees with `shibafu layer diff` instead.',
    details: { path: `/${rel}`, feature },
  });
}

/**
 * Throws UNSUPPORTED when a node's xattr names show redirect_dir or metacopy.
 *
 * @example
 * refuseUnreadableOverlay(names, 'commit the upper', 'var/moved');
 */
export function refuseUnreadableOverlay(names: readonly string[], what: string, rel: string): void {
  const feature = unreadableOverlayFeature(names);
  if (feature !== null) throw unsupportedOverlayFeature(what, rel, feature);
}

/** The two calls that write overlay's marks (src/sys implements them). */
export interface OverlayMarkPorts {
  mknod(path: string, kind: 'char' | 'block' | 'fifo', mode: number, major: number, minor: number): void;
  lsetxattr(path: string, name: string, value: Buffer): void;
}

/**
 * Makes `path` (which must not exist) a whiteout: a character device 0/0, mode 0.
 *
 * @example
 * markWhiteout(ports, `${diff}/etc/old`);
 */
export function markWhiteout(ports: Pick<OverlayMarkPorts, 'mknod'>, path: string): void {
  ports.mknod(path, 'char', WHITEOUT_DEVICE.mode, WHITEOUT_DEVICE.major, WHITEOUT_DEVICE.minor);
}

/**
 * Marks the directory `path` opaque in `namespace` (the store's by default).
 *
 * @example
 * markOpaque(ports, `${diff}/etc`);
 */
export function markOpaque(ports: Pick<OverlayMarkPorts, 'lsetxattr'>, path: string, namespace: OverlayNamespace = DEFAULT_OVERLAY_NAMESPACE): void {
  ports.lsetxattr(path, OPAQUE_XATTRS[namespace], OPAQUE_VALUE_BYTES);
}
