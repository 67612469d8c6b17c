// The storage entry point: `openStore` picks the backend named in the configuration
// (DESIGN.md section 6). Callers depend on the Store interface only, never on a backend class.
import { MimiError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { openLevelStore } from "./levelStore.ts";
import { openMemoryStore, type MemoryDatabase } from "./memoryStore.ts";
import type { Migration, Store, StoreKind } from "./Store.ts";

export type * from "./Store.ts";
export { DEFAULT_NAMESPACES, MAX_KEY_BYTES, META_NAMESPACE, NAMESPACE_NAME_PATTERN, SCHEMA_VERSION_KEY } from "./Store.ts";
export { cborCodec, compareKeys, jsonCodec } from "./common.ts";
export { KeyedLock } from "./keyedLock.ts";
export { LEVEL_SUBDIR } from "./levelStore.ts";
export { MemoryDatabase } from "./memoryStore.ts";
export { LATEST_SCHEMA_VERSION, MIGRATIONS } from "./migrations/index.ts";

export interface OpenStoreOptions {
  kind: StoreKind;
  /** The data folder. Required for "level"; ignored by "memory" (so callers can pass config as is). */
  dataDir?: string;
  logger?: Logger;
  /** Defaults to DEFAULT_NAMESPACES. */
  namespaces?: readonly string[];
  /** Defaults to MIGRATIONS; tests pass their own. */
  migrations?: readonly Migration[];
  /** Default withLock wait in milliseconds (30 000). */
  lockTimeoutMs?: number;
  /** "memory" only: reopen this data instead of starting empty. */
  memoryDatabase?: MemoryDatabase;
}

/** Opens a store, creating and migrating it as needed. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const { kind, dataDir, memoryDatabase, ...common } = options;
  switch (kind) {
    case "level":
      if (dataDir === undefined || dataDir === "") {
        throw new MimiError("MIMI_ERR_CONFIG_INVALID", "the level store needs a data folder (dataDir)");
      }
      return openLevelStore({ ...common, dataDir });
    case "memory":
      return openMemoryStore(memoryDatabase === undefined ? common : { ...common, database: memoryDatabase });
    default:
      // Reached only when the kind comes from untyped input such as a config file.
      throw new MimiError("MIMI_ERR_CONFIG_INVALID", `unknown store kind ${JSON.stringify(kind)}`);
  }
}
