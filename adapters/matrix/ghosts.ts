// Matrix identities of the adapter (issue 6 item 3, MIMI-MATRIX-03): local users, ghosts, the bot,
// and the deterministic names the adapter gives to what it creates on the homeserver (portal room
// aliases, CS-API transaction IDs). Pure: no I/O.
import { createHash } from "node:crypto";
import {
  matrixGhostFor,
  parseMatrixGhost,
  parseMatrixUserId,
  parseMimiUri,
  platformUserId,
  type PlatformUserId,
} from "../../src/adapter/index.ts";

const LOCALPART = /^[a-z0-9._=\-/+]+$/;

export interface MatrixIdsOptions {
  /** The homeserver's server name (where local users, ghosts and the bot live). */
  readonly domain: string;
  /** The MIMI provider domain (ctx.core.domain). */
  readonly provider: string;
  readonly ghostPrefix: string;
  readonly botLocalpart: string;
}

export const sha256Hex = (s: string): string => createHash("sha256").update(s).digest("hex");

export class MatrixIds {
  readonly domain: string;
  readonly provider: string;
  readonly ghostPrefix: string;
  readonly bot: PlatformUserId;

  constructor(o: MatrixIdsOptions) {
    this.domain = o.domain;
    this.provider = o.provider;
    this.ghostPrefix = o.ghostPrefix;
    this.bot = platformUserId(`@${o.botLocalpart}:${o.domain}`);
  }

  #ghostOptions() {
    return { serverName: this.domain, prefix: this.ghostPrefix };
  }

  /** `@alice:hs` (a user of the homeserver, not a ghost, not the bot) → mimi://<provider>/u/alice. */
  toMimiUri(user: string): string | undefined {
    let parsed;
    try {
      parsed = parseMatrixUserId(user);
    } catch {
      return undefined;
    }
    if (parsed.serverName !== this.domain) return undefined;
    if (parsed.localpart.startsWith(this.ghostPrefix) || user === this.bot) return undefined;
    return `mimi://${this.provider}/u/${parsed.localpart}`;
  }

  localUserFor(mimiUri: string): PlatformUserId | undefined {
    let parsed;
    try {
      parsed = parseMimiUri(mimiUri);
    } catch {
      return undefined;
    }
    if (parsed.kind !== "user" || parsed.host !== this.provider) return undefined;
    const user = parsed.segments[0] ?? "";
    if (!LOCALPART.test(user) || user.startsWith(this.ghostPrefix)) return undefined;
    const id = `@${user}:${this.domain}`;
    if (id === this.bot) return undefined;
    return platformUserId(id);
  }

  ghostFor(mimiUri: string): PlatformUserId {
    return platformUserId(matrixGhostFor(mimiUri, this.#ghostOptions()));
  }

  parseGhost(user: string): string | undefined {
    try {
      return parseMatrixGhost(user, this.#ghostOptions());
    } catch {
      return undefined;
    }
  }

  isGhost(user: string): boolean {
    return this.parseGhost(user) !== undefined;
  }

  isLocal(user: string): boolean {
    return this.toMimiUri(user) !== undefined;
  }

  /** The alias of the portal room the adapter creates for a MIMI room (in the exclusive alias namespace). */
  portalAlias(roomId: string): string {
    return `#${this.ghostPrefix}room_${sha256Hex(roomId).slice(0, 32)}:${this.domain}`;
  }

  /** The localpart of an alias (for createRoom's room_alias_name). */
  static aliasLocalpart(alias: string): string {
    return alias.slice(1, alias.lastIndexOf(":"));
  }

  /** A short human label of a MIMI user (display name of its ghost). */
  static label(mimiUri: string): string {
    const m = /^mimi:\/\/([^/]+)\/u\/(.+)$/.exec(mimiUri);
    if (m === null) return mimiUri;
    try {
      return `${decodeURIComponent(m[2] ?? "")} (${m[1] ?? ""})`;
    } catch {
      return mimiUri;
    }
  }
}
