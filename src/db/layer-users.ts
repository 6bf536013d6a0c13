/**
 * What uses a layer: the one definition of "in use", shared by `layer rm` and the garbage
 * collection to come. A layer is in use while any of these stand on it: a child layer (its diff
 * only makes sense on top of this one), a container (its stack), a mount (recorded; the store
 * prunes records whose mount is gone before it decides), or a name (only a collector cares: `layer
 * rm NAME` removes the name it was given), or an image (its layers, bottom first).
 */
import type { ChainId } from '../ids.js';
import type { Db } from './db.js';

export interface LayerUsers {
  /** Child layers: row id and a label (a name, else the chainId, else #id). */
  readonly children: readonly { readonly id: number; readonly label: string; readonly chainId: ChainId | null }[];
  readonly containers: readonly { readonly id: string; readonly name: string }[];
  /** Mount records (live or stale: the caller checks which). */
  readonly mounts: readonly { readonly id: string; readonly target: string }[];
  readonly names: readonly string[];
  /** Images: row id and a label (a name, else the manifest digest). */
  readonly images: readonly { readonly id: number; readonly label: string }[];
}

const USERS_SQL = `
  SELECT 'child' AS kind, CAST(c.id AS TEXT) AS ref, c.chain_id AS extra,
         COALESCE((SELECT n.name FROM names n WHERE n.layer_id = c.id ORDER BY n.name LIMIT 1), c.chain_id, '#' || c.id) AS label, c.id AS ord
    FROM layers c WHERE c.parent_id = :id
  UNION ALL
  SELECT DISTINCT 'container', ct.id, NULL, ct.name, ct.created
    FROM containers ct JOIN container_layers cl ON cl.container_id = ct.id WHERE cl.layer_id = :id
  UNION ALL
  SELECT 'mount', m.id, NULL, m.target, m.created
    FROM mounts m WHERE EXISTS (SELECT 1 FROM json_each(m.stack) WHERE value = :id)
  UNION ALL
  SELECT 'name', n.name, NULL, n.name, n.name FROM names n WHERE n.layer_id = :id
  UNION ALL
  SELECT DISTINCT 'image', CAST(i.id AS TEXT), NULL,
         COALESCE((SELECT n.name FROM image_names n WHERE n.image_id = i.id ORDER BY n.name LIMIT 1), i.manifest_digest), i.id
    FROM images i JOIN image_layers il ON il.image_id = i.id WHERE il.layer_id = :id
  ORDER BY kind, ord`;

interface RawUser { kind: 'child' | 'container' | 'mount' | 'name' | 'image'; ref: string; extra: string | null; label: string }

/**
 * Everything that uses the layer, in one query.
 *
 * @example
 * const users = layerUsers(db, layer.id);
 * if (users.children.length > 0) throw new ShibafuError('LAYER_IN_USE', ...);
 */
export function layerUsers(db: Db, layerId: number): LayerUsers {
  const rows = db.stmt(USERS_SQL).all({ id: layerId }) as RawUser[];
  const users = {
    children: [] as LayerUsers['children'][number][], containers: [] as LayerUsers['containers'][number][], mounts: [] as LayerUsers['mounts'][number][],
    names: [] as string[], images: [] as LayerUsers['images'][number][],
  };
  for (const r of rows) {
    switch (r.kind) {
      case 'child': users.children.push({ id: Number(r.ref), label: r.label, chainId: r.extra as ChainId | null }); break;
      case 'container': users.containers.push({ id: r.ref, name: r.label }); break;
      case 'mount': users.mounts.push({ id: r.ref, target: r.label }); break;
      case 'name': users.names.push(r.ref); break;
      case 'image': users.images.push({ id: Number(r.ref), label: r.label }); break;
    }
  }
  return users;
}
