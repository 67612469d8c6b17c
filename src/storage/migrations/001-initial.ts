// Migration 1: the baseline schema.
//
// Namespaces need no creation (a LevelDB sublevel is a key prefix; a PostgreSQL namespace is a
// column value), so the baseline only records when this data folder was first initialised. Every
// later change to what is stored, or where, gets its own numbered file next to this one.
import { utf8 } from "../common.ts";
import { META_NAMESPACE, type Migration } from "../Store.ts";

export const initial: Migration = {
  version: 1,
  name: "initial",
  up(_store, batch) {
    batch.put(META_NAMESPACE, "createdAt", utf8(JSON.stringify(new Date().toISOString())));
    return Promise.resolve();
  },
};
