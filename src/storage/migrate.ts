// Runs numbered schema migrations on open (DESIGN.md section 6: "numbered schema migrations").
//
// META_NAMESPACE/schemaVersion holds the version of the newest applied migration (0 or absent:
// none). Each pending migration's writes are committed in one batch together with its version
// bump and a history record, so a crash or a failure leaves the previous version recorded and
// the migration runs again on the next open. Data written by a newer mimi-bridge is refused
// rather than guessed at.
//
// The PostgreSQL store will run the same list inside one transaction per migration, holding a
// pg_advisory_xact_lock so that only one of several starting processes migrates.
import { MimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { jsonCodec, schemaVersionCodec } from "./common.ts";
import { META_NAMESPACE, SCHEMA_VERSION_KEY, type BatchOp, type Migration, type MigrationBatch, type Store } from "./Store.ts";

/** History record stored at META_NAMESPACE/`migration/NNNN`. */
export interface MigrationRecord {
  version: number;
  name: string;
  appliedAt: string;
}

export function migrationRecordKey(version: number): string {
  return `migration/${String(version).padStart(4, "0")}`;
}

/** Checks that versions run 1..N without gaps, so a missing migration file cannot go unnoticed. */
export function validateMigrations(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new MimiError("MIMI_ERR_INTERNAL", `migration at position ${index + 1} has version ${migration.version}; versions must run 1..N`);
    }
    if (typeof migration.name !== "string" || migration.name.length === 0 || typeof migration.up !== "function") {
      throw new MimiError("MIMI_ERR_INTERNAL", `migration ${migration.version} needs a name and an up() function`);
    }
  });
}

function collector(): MigrationBatch {
  const ops: BatchOp[] = [];
  return {
    ops,
    put(namespace, key, value) {
      ops.push({ type: "put", namespace, key, value });
    },
    del(namespace, key) {
      ops.push({ type: "del", namespace, key });
    },
  };
}

/** Applies pending migrations in order. Returns the versions before and after. */
export async function runMigrations(store: Store, migrations: readonly Migration[], log: Logger): Promise<{ from: number; to: number }> {
  validateMigrations(migrations);
  const supported = migrations.length;
  const from = await store.schemaVersion();
  if (from > supported) {
    throw new MimiError(
      "MIMI_ERR_STORAGE_SCHEMA_TOO_NEW",
      `data has schema version ${from}, this mimi-bridge supports up to ${supported}; upgrade mimi-bridge or restore a backup`,
      { details: { stored: from, supported } },
    );
  }
  const meta = store.namespace(META_NAMESPACE);
  const history = meta.typed(jsonCodec<MigrationRecord>());
  let version = from;
  for (const migration of migrations.slice(from)) {
    const started = performance.now();
    try {
      const batch = collector();
      await migration.up(store, batch);
      await store.batch(
        [
          ...batch.ops,
          history.putOp(migrationRecordKey(migration.version), { version: migration.version, name: migration.name, appliedAt: new Date().toISOString() }),
          meta.typed(schemaVersionCodec).putOp(SCHEMA_VERSION_KEY, migration.version),
        ],
        { sync: true },
      );
    } catch (cause) {
      log.error({ err: cause, version: migration.version, migration: migration.name }, "storage migration failed");
      throw new MimiError("MIMI_ERR_STORAGE_MIGRATION_FAILED", `storage migration ${migration.version} (${migration.name}) failed`, {
        cause,
        details: { version: migration.version, name: migration.name, recordedVersion: version },
      });
    }
    version = migration.version;
    log.info({ version, migration: migration.name, ms: Math.round(performance.now() - started) }, "storage migration applied");
  }
  return { from, to: version };
}
