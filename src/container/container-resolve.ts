/**
 * Finds the container a user names: a name, a full id, or a unique id prefix (as podman does).
 */
import { containerById, containerByName, containersByPrefix, type ContainerRow } from '../db/container-queries.js';
import type { Db } from '../db/db.js';
import { ShibafuError } from '../errors.js';

/**
 * @example
 * resolveContainer(db, 'web-1'); resolveContainer(db, '3f2a9c');
 */
export function resolveContainer(db: Db, ref: string): ContainerRow {
  const found = db.read(() => {
    const byName = containerByName(db, ref);
    if (byName !== undefined) return byName;
    if (!/^[0-9a-f]{1,64}$/.test(ref)) return undefined;
    if (ref.length === 64) return containerById(db, ref);
    const matches = containersByPrefix(db, ref, 2);
    if (matches.length > 1) {
      throw new ShibafuError('AMBIGUOUS_ID', `Cannot find container "${ref}": the id prefix matches several containers`, {
        hint: 'Give more characters of the id, or the name (shibafu ps -a).',
      });
    }
    return matches[0];
  });
  if (found === undefined) {
    throw new ShibafuError('CONTAINER_NOT_FOUND', `Cannot find container "${ref}": no container has that name or id`, {
      hint: 'See `shibafu ps -a`.',
    });
  }
  return found;
}
