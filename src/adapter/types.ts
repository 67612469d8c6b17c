// Identifiers and small types of the adapter SDK (DESIGN.md §4, after mautrix bridgev2).
//
// Platform identifiers are opaque strings: the core stores and compares them, never parses them.
// Each states its uniqueness scope:
// - PlatformUserId: unique per adapter (e.g. a bare JID, a Matrix user ID);
// - PlatformRoomId: unique per adapter (a MUC JID, a Matrix room ID, or for one-to-one chats the
//   adapter's own key for the pair, e.g. "chat:<jid>");
// - PlatformEventId: unique per adapter and platform room (a stanza ID, an event ID).

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** Stable adapter ID ("matrix", "xmpp", "loopback"): config key, storage prefix, log binding. Never renamed. */
export type AdapterId = Brand<string, "AdapterId">;
export type PlatformUserId = Brand<string, "PlatformUserId">;
export type PlatformRoomId = Brand<string, "PlatformRoomId">;
export type PlatformEventId = Brand<string, "PlatformEventId">;

export const adapterId = (s: string) => s as AdapterId;
export const platformUserId = (s: string) => s as PlatformUserId;
export const platformRoomId = (s: string) => s as PlatformRoomId;
export const platformEventId = (s: string) => s as PlatformEventId;

export interface AdapterInfo {
  readonly id: AdapterId;
  /** For people: "XMPP (XEP-0114 component)". */
  readonly displayName: string;
  readonly version: string;
}

/** What an adapter's platform can express; the core does not send what it cannot. */
export interface AdapterCapabilities {
  readonly edits: boolean;
  readonly replies: boolean;
  readonly reactions: boolean;
  readonly retractions: boolean;
  readonly typing: boolean;
  readonly readReceipts: boolean;
  readonly roomMetadata: boolean;
  /** Can ask a local user to grant or refuse consent (presence subscription, invite). */
  readonly consentPrompts: boolean;
  /** Can turn identifiers typed by its users into MIMI users (XEP-0100, bot command). */
  readonly identifierResolution: boolean;
  readonly maxMessageBytes?: number;
}

/**
 * Connection state, reported, not thrown (DESIGN.md §4): an adapter that loses its server keeps
 * running and reports `transient_disconnect`; wrong credentials are `bad_credentials`.
 */
export type ConnectionState = "starting" | "connected" | "transient_disconnect" | "bad_credentials" | "unknown_error" | "stopped";

export interface AdapterStatus {
  readonly state: ConnectionState;
  readonly message?: string;
  readonly since: number;
}
