/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many have run. A migration
 * is never edited once released: add a new one. Migrations run inside one IMMEDIATE transaction that
 * re-reads user_version, so two processes opening a fresh store at once apply each exactly once.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: layers, names, mounts.
  `
  CREATE TABLE layers (
    id          INTEGER PRIMARY KEY,
    chain_id    TEXT UNIQUE,                 -- NULL while the layer is open
    diff_id     TEXT,
    parent_id   INTEGER REFERENCES layers(id),
    state       TEXT NOT NULL CHECK (state IN ('open', 'sealed')),
    open_token  TEXT UNIQUE,                 -- directory name under open/ while open
    size        INTEGER NOT NULL DEFAULT 0,  -- bytes of the uncompressed layer tar
    files       INTEGER NOT NULL DEFAULT 0,  -- entries (files, dirs, links, devices, whiteouts)
    blob_digest TEXT,                        -- digest of the archive as given (compressed or not)
    blob_size   INTEGER,
    media_type  TEXT,
    source      TEXT NOT NULL,               -- tar | dir | open | commit | diff
    tar_split   INTEGER NOT NULL DEFAULT 0,  -- 1 when the original archive can be reproduced byte for byte
    created     TEXT NOT NULL,
    sealed      TEXT,
    CHECK ((state = 'sealed') = (chain_id IS NOT NULL))
  );
  CREATE INDEX layers_parent ON layers(parent_id);
  CREATE TABLE names (
    name     TEXT PRIMARY KEY,
    layer_id INTEGER NOT NULL REFERENCES layers(id),
    created  TEXT NOT NULL
  );
  CREATE INDEX names_layer ON names(layer_id);
  CREATE TABLE mounts (
    id       TEXT PRIMARY KEY,
    target   TEXT NOT NULL UNIQUE,
    writable INTEGER NOT NULL,
    api      TEXT NOT NULL,
    -- 'mounting' from the record until the mount(2) returned: such a mount is never pruned as
    -- stale while its owner lives (its staging lock tells), so a concurrent rm cannot slip in.
    state    TEXT NOT NULL DEFAULT 'mounted' CHECK (state IN ('mounting', 'mounted')),
    created  TEXT NOT NULL
  );
  CREATE TABLE mount_layers (
    mount_id TEXT NOT NULL REFERENCES mounts(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,               -- 0 = bottom of the stack
    layer_id INTEGER NOT NULL REFERENCES layers(id),
    PRIMARY KEY (mount_id, position)
  );
  CREATE INDEX mount_layers_layer ON mount_layers(layer_id);
  `,
  // 2: containers. A container pins its stack: container_layers references the layers, so a layer
  // used by any container, running or not, cannot be removed (layer-remove.ts checks first).
  `
  CREATE TABLE containers (
    id          TEXT PRIMARY KEY,            -- 64 hex, random (as podman's)
    name        TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('created', 'running', 'stopped', 'exited')),
    command     TEXT NOT NULL,               -- JSON array: the process's args
    config      TEXT NOT NULL,               -- JSON: ContainerConfig (src/container/container-config.ts)
    created     TEXT NOT NULL,
    started     TEXT,
    finished    TEXT,
    exit_status INTEGER,                     -- NULL while running, or when the end was not seen
    pid         INTEGER                      -- host pid of the container's init while running
  );
  CREATE TABLE container_layers (
    container_id TEXT NOT NULL REFERENCES containers(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,           -- 0 = bottom of the stack
    layer_id     INTEGER NOT NULL REFERENCES layers(id),
    PRIMARY KEY (container_id, position)
  );
  CREATE INDEX container_layers_layer ON container_layers(layer_id);
  `,
  // 3: a commit of a stopped container moves its upper into the new layer and stacks that layer
  // under a fresh upper (src/container/container-commit.ts). image_layers keeps how many layers
  // at the bottom of its stack it was created on (NULL: all of them), so that `container diff`
  // still lists every change since its creation, as podman's does after a commit.
  `
  ALTER TABLE containers ADD COLUMN image_layers INTEGER;
  `,
  // 4: the snapshotter's metadata (src/snapshots/): one row per snapshot of the store's one
  // storage driver, recorded in store_config when the store was created. AUTOINCREMENT: a row id
  // names the snapshot's directory (or subvolume, or dataset), and must never name two snapshots,
  // even across a crash that left the old one's directory for the sweep.
  `
  CREATE TABLE store_config (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  CREATE TABLE snapshots (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    key       TEXT NOT NULL UNIQUE,        -- the key of an active snapshot or view, a committed one's name
    kind      TEXT NOT NULL CHECK (kind IN ('active', 'view', 'committed')),
    parent_id INTEGER REFERENCES snapshots(id),
    created   TEXT NOT NULL,
    labels    TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX snapshots_parent ON snapshots(parent_id);
  -- An overlay stack of several unrelated chains: every chain's top, bottom first (parent_id is
  -- the last). Absent for a snapshot on one chain.
  CREATE TABLE snapshot_parents (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    parent_id   INTEGER NOT NULL REFERENCES snapshots(id),
    PRIMARY KEY (snapshot_id, position)
  );
  CREATE INDEX snapshot_parents_parent ON snapshot_parents(parent_id);
  `,
  // 5: the content store (src/content/): blobs by digest, their files at blobs/sha256/<hex>. A layer
  // (one diffId) may have several blobs (gzip, zstd); a blob may serve several layers (the same
  // archive imported on two parents). layers.blob_digest/blob_size/media_type stay as recorded at
  // import (the archive as given, plain ones included); layer_blobs lists only the blobs kept.
  `
  CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,             -- sha256:<hex>
    size       INTEGER NOT NULL,
    media_type TEXT,                         -- NULL when the ingest did not say
    created    TEXT NOT NULL
  );
  CREATE TABLE layer_blobs (
    layer_id    INTEGER NOT NULL REFERENCES layers(id) ON DELETE CASCADE,
    digest      TEXT NOT NULL REFERENCES blobs(digest),
    compression TEXT NOT NULL CHECK (compression IN ('gzip', 'zstd')),
    media_type  TEXT NOT NULL,
    PRIMARY KEY (layer_id, digest)
  );
  CREATE INDEX layer_blobs_digest ON layer_blobs(digest);
  `,
  // 6: a mount's stack is one JSON array of layer ids (bottom first) in its row, and mount_layers
  // pins only the top of each chain by its foreign key. The rows of a 500-layer stack, inserted
  // at every mount and deleted at every umount (a b-tree and two indexes), cost ~1 ms of a
  // 500-layer `layer mount` + umount; the array ~0.1 ms. Pinning the tops is enough: every layer below a top
  // is its ancestor, pinned by the child layer above it (layers.parent_id). Existing records keep
  // their rows (a superset of the tops).
  `
  ALTER TABLE mounts ADD COLUMN stack TEXT NOT NULL DEFAULT '[]';
  UPDATE mounts SET stack = (SELECT json_group_array(layer_id ORDER BY position) FROM mount_layers WHERE mount_id = mounts.id);
  `,
  // 7: images (src/images/): a manifest with its config (and the index it was picked from), all
  // three kept byte for byte as blobs; its layers are the store's, bottom first, each with the
  // blob the manifest names when the store keeps one (a plain tar is reproduced from tar-split).
  // Images pin their layers and blobs; a name names one image; a container remembers its image.
  `
  CREATE TABLE images (
    id              INTEGER PRIMARY KEY,
    manifest_digest TEXT NOT NULL UNIQUE REFERENCES blobs(digest),
    media_type      TEXT NOT NULL,           -- the manifest's
    config_digest   TEXT NOT NULL REFERENCES blobs(digest),
    index_digest    TEXT REFERENCES blobs(digest),
    platform        TEXT NOT NULL,           -- os/arch[/variant], from the config
    size            INTEGER NOT NULL,        -- bytes of the uncompressed layers
    created         TEXT NOT NULL            -- when it came into the store
  );
  CREATE INDEX images_config ON images(config_digest);
  CREATE TABLE image_names (
    name     TEXT PRIMARY KEY,               -- a normalized reference: docker.io/library/busybox:latest
    image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    created  TEXT NOT NULL
  );
  CREATE INDEX image_names_image ON image_names(image_id);
  CREATE TABLE image_layers (
    image_id    INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,            -- 0 = bottom
    layer_id    INTEGER NOT NULL REFERENCES layers(id),
    blob_digest TEXT REFERENCES blobs(digest),
    PRIMARY KEY (image_id, position)
  );
  CREATE INDEX image_layers_layer ON image_layers(layer_id);
  CREATE INDEX image_layers_blob ON image_layers(blob_digest);
  ALTER TABLE containers ADD COLUMN image_id INTEGER REFERENCES images(id);
  `,
];
