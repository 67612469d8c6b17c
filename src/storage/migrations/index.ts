// The ordered list of schema migrations, applied on open by src/storage/migrate.ts.
//
// Rules: one file per migration named NNN-name.ts; versions run 1..N without gaps (checked at
// open); a released migration is never edited or removed, since stores in the field have
// already recorded it. Add a new file and append it here instead.
import type { Migration } from "../Store.ts";
import { initial } from "./001-initial.ts";

export const MIGRATIONS: readonly Migration[] = [initial];

/** The schema version this build writes and understands. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS.length;
