/**
 * Where a running import writes its files: the overlay storage's dir of its snapshot
 * `import-<token>` (store/layer-commit.ts makeStagedLayerDir), found from the database without
 * opening the store (which would sweep the running import's staging).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';

/**
 * @example
 * importSnapshotDir(ts.root, 'a1b2c3d4e5f60718') // '<root>/snapshots/7', or undefined before it exists
 */
export function importSnapshotDir(root: string, token: string): string | undefined {
  const db = new Database(join(root, 'shibafu.db'), { readonly: true, fileMustExist: true });
  try {
    const row = db.prepare('SELECT id FROM snapshots WHERE key = ?').get(`import-${token}`) as { id: number } | undefined;
    return row === undefined ? undefined : join(root, 'snapshots', String(row.id));
  } finally {
    db.close();
  }
}
