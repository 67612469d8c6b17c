// The seam between the adapter and the event-content mapping (content.ts): the adapter's inbound
// and outbound calls go through here so the adapter's own state (portal room, identities, limits,
// what an earlier event was) is handed to the pure mapping in one place.
import { type MimiEdit, type MimiMessage, type PlatformEvent, type PlatformRoomId, type PlatformUserId } from "../../src/adapter/index.ts";
import type { MatrixEvent } from "./appservice.ts";
import { matrixEditContent, matrixMessageContent, platformEventsFromMatrix, txnIdFor as contentTxnIdFor } from "./content.ts";

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
  return matrixMessageContent(m, { matrixIdOf: ctx.matrixIdOf }).content;
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
}

/** The platform events a Matrix room event of a local user stands for (maybe none). */
export function inboundEvents(ev: MatrixEvent, room: PlatformRoomId, ctx: MappingContext): Inbound {
  const c = ev.content;
  const base = { platformEventId: ev.event_id, sender: ev.sender as PlatformUserId, room, timestamp: ev.origin_server_ts };
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
