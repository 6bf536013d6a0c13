/**
 * Tells an image archive from a layer by its first members: `layer create` of `podman save`'s
 * output would otherwise store a layer holding `manifest.json` and `blobs/`, and a run of it fail
 * with "sh not found". The names are those only image layouts use: OCI's `oci-layout` and
 * `blobs/sha256/<64 hex>`, `docker save`'s `manifest.json`, `repositories`, `<64 hex>.tar|.json`
 * and `<64 hex>/layer.tar`. A layer could hold such a path, but no real one does.
 */

/** How many leading members are looked at: every image writer puts one of its names first or soon after. */
export const IMAGE_MEMBER_WINDOW = 4;

const HEX64 = '[0-9a-f]{64}';
const IMAGE_MEMBER = new RegExp(`^(?:\\./)?(?:oci-layout|index\\.json|manifest\\.json|repositories|blobs/sha256/${HEX64}|${HEX64}\\.(?:tar|json)|${HEX64}/(?:layer\\.tar|json|VERSION))$`);

/**
 * @example
 * isImageArchiveMember('manifest.json') // true
 * isImageArchiveMember('etc/passwd')    // false
 */
export function isImageArchiveMember(path: string): boolean {
  return IMAGE_MEMBER.test(path);
}
