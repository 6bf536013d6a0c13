/**
 * Image names: normalized references (`busybox` → `docker.io/library/busybox:latest`), as
 * podman stores them, so that every spelling of a name finds the same image.
 */
import { ShibafuError } from '../errors.js';
import { formatImageReference, parseImageReference } from '../registry/reference.js';

/**
 * The stored form of a name. A reference with a digest is not a name (the image is found by its
 * digest): INVALID_REFERENCE.
 *
 * @example
 * imageName('busybox') // 'docker.io/library/busybox:latest'
 */
export function imageName(text: string): string {
  const ref = parseImageReference(text);
  if (ref.digest !== undefined) {
    throw new ShibafuError('INVALID_REFERENCE', `Cannot use "${text}" as an image name: a name has a tag, not a digest`, { hint: 'Give NAME[:TAG].' });
  }
  return formatImageReference(ref);
}

/**
 * A stored name split as `image ls` shows it: repository and tag.
 *
 * @example
 * splitImageName('docker.io/library/busybox:latest') // { repository: 'docker.io/library/busybox', tag: 'latest' }
 */
export function splitImageName(name: string): { repository: string; tag: string } {
  const colon = name.lastIndexOf(':');
  return colon > name.lastIndexOf('/') ? { repository: name.slice(0, colon), tag: name.slice(colon + 1) } : { repository: name, tag: '<none>' };
}
