// The seam between the adapter and the event-content mapping (content.ts): the adapter's inbound
// and outbound calls go through here so the adapter's own state (portal room, identities, limits,
// what an earlier event was) is handed to the pure mapping in one place.
import { type MimiEdit, type MimiMessage, type PlatformEvent, type PlatformRoomId, type PlatformUserId } from "../../src/adapter/index.ts";
import type { MatrixEphemeral, MatrixEvent } from "./appservice.ts";
import {
  authenticatedMediaUrl,
  matrixEditContent,
  matrixMessageContent,
  mxcFromMediaUrl,
  parseMxc,
  platformEventsFromEphemeral,
  platformEventsFromMatrix,
  txnIdFor as contentTxnIdFor,
} from "./content.ts";

export interface MappingContext {
  readonly homeserverUrl: string;
  readonly maxBodyBytes: number;
  /** The MIMI user of a Matrix user (a ghost or a local user), for mentions. */
  readonly mimiUserOf: (mxid: string) => string | undefined;
  /** The Matrix user of a MIMI user (a local user or the ghost). */
  readonly matrixIdOf: (mimiUri: string) => string | undefined;
}

/** A CS-API transaction ID derived from the MIMI message ID: the same delivery → the same txnId. */
export function txnIdFor(messageId: string, kind: string): string {
  return contentTxnIdFor(messageId, kind.replace(/[^a-z0-9]/g, "").slice(0, 16) || "x");
}

export function messageContent(m: MimiMessage, ctx: MappingContext): Record<string, unknown> {
  // homeserverUrl: an attachment on this homeserver's authenticated media URL goes back as mxc:// media.
  return matrixMessageContent(m, { matrixIdOf: ctx.matrixIdOf, homeserverUrl: ctx.homeserverUrl }).content;
}

export function editContent(e: MimiEdit, ctx: MappingContext): Record<string, unknown> {
  return matrixEditContent(e, e.target, { matrixIdOf: ctx.matrixIdOf }).content;
}

export function reactionContent(target: string, key: string): Record<string, unknown> {
  return { "m.relates_to": { rel_type: "m.annotation", event_id: target, key } };
}

export interface Inbound {
  readonly events: PlatformEvent[];
  readonly problems: readonly string[];
  /** Why nothing is carried, when the event is well-formed but has no MIMI meaning. */
  readonly ignored?: string;
}

/**
 * m.room.avatar → the MIMI room_metadata `roomAvatar` (protocol-06 §5.2: a URI, "" = none).
 * An mxc URI goes out as the homeserver's authenticated media download URL (CS-API v1.11
 * "Content repository"), which a MIMI client can fetch with a token of that homeserver; an
 * absent or empty `url` removes the avatar; anything else has no MIMI meaning.
 */
export function avatarToMimi(url: unknown, homeserverUrl: string): { avatar: string } | { ignored: string } {
  if (url === undefined || url === "") return { avatar: "" };
  if (typeof url !== "string") return { ignored: "m.room.avatar url is not a string" };
  const out = authenticatedMediaUrl(homeserverUrl, url);
  return out === undefined ? { ignored: "m.room.avatar url is not an mxc URI" } : { avatar: out };
}

/**
 * A MIMI room avatar → m.room.avatar content. Only this homeserver's own media (its
 * authenticated or legacy download URL) can become an mxc URI again: Matrix clients load room
 * avatars from the homeserver's content repository and never from arbitrary URLs (which would
 * also leak their IP addresses to whoever chose the URL). "" removes the avatar.
 */
export function avatarToMatrix(avatar: string, homeserverUrl: string): { content: Record<string, unknown> } | { ignored: string } {
  if (avatar === "") return { content: {} };
  const mxc = mxcFromMediaUrl(homeserverUrl, avatar);
  if (mxc === undefined || parseMxc(mxc) === undefined) return { ignored: "the avatar is not media of this homeserver (only its own media can become an mxc URI)" };
  return { content: { url: mxc } };
}

/**
 * Ephemeral events (MSC2409) of a portal → platform events, through content.ts
 * platformEventsFromEphemeral: m.typing carries the whole set of typing users, so the local
 * users typing before each room's last m.typing are kept here to turn sets into on/off changes.
 */
export class EphemeralMapper {
  readonly #typing = new Map<string, readonly string[]>();
  #counter = 0;
  readonly #isLocalUser: (mxid: string) => boolean;
  readonly #now: () => number;

  constructor(isLocalUser: (mxid: string) => boolean, now: () => number = Date.now) {
    this.#isLocalUser = isLocalUser;
    this.#now = now;
  }

  map(ev: MatrixEphemeral, room: PlatformRoomId): Inbound {
    const roomKey = ev.room_id ?? room;
    const now = this.#now();
    // Typing event IDs must be unique (the core deduplicates on them) and never repeat after a restart.
    const key = `${now.toString(36)}.${(this.#counter++).toString(36)}`;
    const r = platformEventsFromEphemeral(ev, { room, isLocalUser: this.#isLocalUser, typingBefore: this.#typing.get(roomKey) ?? [], key, now });
    if (r.typing !== undefined) {
      if (r.typing.length === 0) this.#typing.delete(roomKey);
      else this.#typing.set(roomKey, r.typing);
    }
    return { events: r.events, problems: r.problems, ...(r.ignored === undefined ? {} : { ignored: r.ignored }) };
  }
}

/** The platform events a Matrix room event of a local user stands for (maybe none). */
export function inboundEvents(ev: MatrixEvent, room: PlatformRoomId, ctx: MappingContext): Inbound {
  const c = ev.content;
  const base = { platformEventId: ev.event_id, sender: ev.sender as PlatformUserId, room, timestamp: ev.origin_server_ts };
  if (ev.type === "m.room.avatar") {
    if (ev.state_key !== "") return { events: [], problems: [] };
    const a = avatarToMimi(c.url, ctx.homeserverUrl);
    if ("ignored" in a) return { events: [], problems: [], ignored: a.ignored };
    return { events: [{ ...base, platformEventId: base.platformEventId as PlatformEvent["platformEventId"], type: "room.metadata", avatar: a.avatar }], problems: [] };
  }
  if (ev.type === "m.room.name" || ev.type === "m.room.topic") {
    if (ev.state_key !== "") return { events: [], problems: [] };
    const e: PlatformEvent =
      ev.type === "m.room.name"
        ? { ...base, platformEventId: base.platformEventId as PlatformEvent["platformEventId"], type: "room.metadata", name: typeof c.name === "string" ? c.name : "" }
        : { ...base, platformEventId: base.platformEventId as PlatformEvent["platformEventId"], type: "room.metadata", topic: typeof c.topic === "string" ? c.topic : "" };
    return { events: [e], problems: [] };
  }
  const r = platformEventsFromMatrix(ev, { sender: ev.sender as PlatformUserId, room, homeserverUrl: ctx.homeserverUrl, mimiUserOf: ctx.mimiUserOf, limits: { maxBodyBytes: ctx.maxBodyBytes } });
  return { events: r.events, problems: r.problems };
}
