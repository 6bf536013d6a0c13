/**
 * The SQLite connection (better-sqlite3, WAL). Only `db/` speaks SQL. better-sqlite3 is synchronous,
 * which suits a CLI: a transaction is a plain function and can never interleave with another
 * transaction of the same process.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { NO_SPACE_HINT, ShibafuError, errnoCode } from '../errors.js';
import { MIGRATIONS } from './schema.js';

/** How long a writer waits for another process's write transaction before giving up. */
const BUSY_TIMEOUT_MS = 30_000;
/** A synchronous sleep for the open's retry loop (the whole connection API is synchronous). */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));
const nodeRequire = createRequire(import.meta.url);
let addon: object | null | undefined;

/**
 * better-sqlite3's native addon, loaded by its path. Left to itself better-sqlite3 finds it with
 * the \`bindings\` package, which probes a dozen paths and inspects a stack trace: ~5 ms of every
 * command (measured). Null when the addon is not where a normal build puts it; better-sqlite3's
 * own search then runs as usual.
 */
function sqliteAddon(): object | null {
  if (addon === undefined) {
    try {
      const pkg = nodeRequire.resolve('better-sqlite3/package.json');
      addon = nodeRequire(join(dirname(pkg), 'build', 'Release', 'better_sqlite3.node')) as object;
    } catch {
      addon = null;
    }
  }
  return addon;
}

export class Db {
  readonly #sqlite: Database.Database;

  private constructor(sqlite: Database.Database) {
    this.#sqlite = sqlite;
  }

  /**
   * Opens (creating if needed) and migrates the database.
   *
   * @example
   * const db = Db.open('/var/lib/shibafu/shibafu.db');
   */
  static open(path: string, options: { readonly?: boolean } = {}): Db {
    let sqlite: Database.Database;
    try {
      const nativeBinding = sqliteAddon();
      sqlite = new Database(path, {
        timeout: BUSY_TIMEOUT_MS,
        fileMustExist: options.readonly === true,
        // better-sqlite3 takes the loaded addon object too; its types only name the path form.
        ...(nativeBinding !== null ? { nativeBinding: nativeBinding as unknown as string } : {}),
      });
    } catch (err) {
      throw mapSqliteError(err, 'open the store database');
    }
    const db = new Db(sqlite);
    try {
      db.#openWithRetry();
    } catch (err) {
      sqlite.close();
      throw mapSqliteError(err, 'open the store database');
    }
    return db;
  }

  /**
   * Switching a fresh database to WAL and creating the schema take locks that SQLite does not
   * wait for with its busy handler (it answers SQLITE_BUSY at once to avoid a deadlock between
   * two connections that both want to upgrade). Two shibafu processes opening a new store at the
   * same moment hit that; retry with a short backoff up to the usual busy timeout.
   */
  #openWithRetry(): void {
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let delay = 5; ; delay = Math.min(delay * 2, 200)) {
      try {
        this.#configure();
        this.#migrate();
        return;
      } catch (err) {
        const code = errnoCode(err);
        const busy = code !== undefined && (code.startsWith('SQLITE_BUSY') || code === 'STORE_BUSY');
        if (!busy || Date.now() + delay > deadline) throw err;
        Atomics.wait(SLEEPER, 0, 0, delay);
      }
    }
  }

  #configure(): void {
    // WAL lets readers (layer list) run while an import commits; FULL makes each commit durable,
    // which the crash-safety protocol relies on (files first, then the row, then nothing else).
    this.#sqlite.pragma('journal_mode = WAL');
    this.#sqlite.pragma('synchronous = FULL');
    this.#sqlite.pragma('foreign_keys = ON');
  }

  #migrate(): void {
    const current = this.#sqlite.pragma('user_version', { simple: true }) as number;
    if (current === MIGRATIONS.length) return;
    if (current > MIGRATIONS.length) {
      throw new ShibafuError('UNSUPPORTED', `Cannot open store: its schema version ${current} is newer than this shibafu (${MIGRATIONS.length})`, {
        hint: 'Upgrade shibafu.',
      });
    }
    this.immediate(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const version = this.#sqlite.pragma('user_version', { simple: true }) as number;
      for (let i = version; i < MIGRATIONS.length; i++) {
        this.#sqlite.exec(MIGRATIONS[i] as string);
      }
      this.#sqlite.pragma(`user_version = ${MIGRATIONS.length}`);
    });
  }

  /**
   * Runs `fn` in a write (IMMEDIATE) transaction: the only way state changes.
   *
   * `durable: false` commits without an fsync of the WAL (synchronous=NORMAL for this one
   * commit): for records that do not outlive a reboot anyway, like mounts, where a lost commit
   * costs nothing and three fsyncs were most of a mount's time. The database stays consistent
   * either way; only the last such commits may be lost on power failure.
   */
  immediate<T>(fn: () => T, options: { durable?: boolean } = {}): T {
    // SQLite refuses to change the safety level inside a transaction: a nested call (a savepoint)
    // commits with its outer transaction, at the outer one's level.
    const relaxed = options.durable === false && !this.#sqlite.inTransaction;
    try {
      if (relaxed) this.#sqlite.pragma('synchronous = NORMAL');
      return this.#sqlite.transaction(fn).immediate();
    } catch (err) {
      throw mapSqliteError(err, 'update the store');
    } finally {
      if (relaxed) this.#sqlite.pragma('synchronous = FULL');
    }
  }

  /** Runs `fn` in a read transaction (a consistent snapshot across several queries). */
  read<T>(fn: () => T): T {
    try {
      return this.#sqlite.transaction(fn).deferred();
    } catch (err) {
      throw mapSqliteError(err, 'read the store');
    }
  }

  /** A prepared statement, cached by SQL text. */
  stmt(sql: string): Database.Statement {
    let s = this.#cache.get(sql);
    if (s === undefined) {
      s = this.#sqlite.prepare(sql);
      this.#cache.set(sql, s);
    }
    return s;
  }

  readonly #cache = new Map<string, Database.Statement>();

  close(): void {
    this.#cache.clear();
    if (this.#sqlite.open) this.#sqlite.close();
  }
}

/** SQLite's own errors never leave the library raw: busy becomes STORE_BUSY, disk full NO_SPACE. */
export function mapSqliteError(err: unknown, action: string): unknown {
  if (err instanceof ShibafuError) return err;
  const code = errnoCode(err);
  if (code === undefined || !code.startsWith('SQLITE_')) return err;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new ShibafuError('STORE_BUSY', `Cannot ${action}: another shibafu process kept the store locked`, {
      hint: 'Retry when the other operation has finished.',
      cause: err,
    });
  }
  if (code.startsWith('SQLITE_FULL')) {
    return new ShibafuError('NO_SPACE', `Cannot ${action}: no space left for the database`, { hint: NO_SPACE_HINT, cause: err });
  }
  if (code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) {
    return new ShibafuError('PERMISSION_DENIED', `Cannot ${action}: the database is read-only to this user`, { cause: err, hint: 'Run as root.' });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB')) {
    return new ShibafuError('STORE_CORRUPT', `Cannot ${action}: the database is damaged (${code})`, { cause: err });
  }
  if (code.startsWith('SQLITE_CONSTRAINT')) {
    return new ShibafuError('INTERNAL', `Cannot ${action}: a consistency rule was broken (${code})`, { cause: err });
  }
  return new ShibafuError('IO_ERROR', `Cannot ${action}: ${code}`, { cause: err });
}
