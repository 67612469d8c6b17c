// The adapter interface (DESIGN.md §4; after mautrix bridgev2's network connector, xmpp.js and
// fastify plugins): a small required interface, optional capability interfaces detected with
// type guards, and the context the core hands an adapter. Adapters import only this SDK
// (src/adapter/); ESLint enforces it.
//
// Lifecycle: the core validates the adapter's config section against `configSchema`, calls
// `init(ctx)` (no I/O), then `start()`; `stop()` is bounded by the core's shutdown timeout.
import type { TSchema } from "@sinclair/typebox";
import type { Logger } from "../log.ts";
import type {
  DeliveryResult,
  MimiConsentChange,
  MimiConsentRequest,
  MimiEdit,
  MimiMessage,
  MimiParticipantChange,
  MimiReaction,
  MimiReadReceipt,
  MimiRetraction,
  MimiRoomMetadata,
  MimiTyping,
  PlatformEvent,
  RoomKindName,
  SubmitResult,
} from "./events.ts";
import type { AdapterCapabilities, AdapterInfo, AdapterStatus, ConnectionState, PlatformEventId, PlatformRoomId, PlatformUserId } from "./types.ts";

/** One MIMI room and the platform room that shows it. */
export interface Portal {
  readonly roomId: string;
  readonly platformRoom: PlatformRoomId;
  readonly kind: RoomKindName;
  /** Adapter-private data kept with the portal (JSON). */
  readonly data?: Record<string, unknown>;
  readonly createdAt: number;
}

/** Portals and message-ID maps, kept by the core in its store (both directions). */
export interface PortalApi {
  byRoom(roomId: string): Promise<Portal | undefined>;
  byPlatformRoom(platformRoom: PlatformRoomId): Promise<Portal | undefined>;
  list(): Promise<Portal[]>;
  /** The MIMI message a platform event stands for in a portal (after edits: the first version). */
  messageIdOf(platformRoom: PlatformRoomId, platformEventId: PlatformEventId): Promise<string | undefined>;
  /** The platform event that shows a MIMI message in a portal. */
  platformEventOf(platformRoom: PlatformRoomId, messageId: string): Promise<PlatformEventId | undefined>;
  /** Adapter-private data of a portal (e.g. the MUC nick map). */
  setData(platformRoom: PlatformRoomId, data: Record<string, unknown>): Promise<void>;
  /** Removes the link (unbridge); the MIMI room stays. */
  unlink(platformRoom: PlatformRoomId): Promise<boolean>;
}

/** One consent record of a local user, as a bridge command shows it (src/consent ConsentView). */
export interface AdapterConsent {
  /** incoming: `peer` asked the user; outgoing: the user asked `peer`. */
  readonly direction: "incoming" | "outgoing";
  /** The other side's MIMI URI and its ghost on this adapter. */
  readonly peer: string;
  readonly peerGhost: PlatformUserId;
  readonly state: string;
  readonly roomId?: string;
}

/** What an adapter can ask of the core. */
export interface CoreApi {
  /** The provider domain this bridge serves (its users are mimi://<domain>/u/…). */
  readonly domain: string;
  /** Hands a platform event to the core; persisted before the answer, deduplicated. */
  submit(event: PlatformEvent): Promise<SubmitResult>;
  /** Reports the adapter's connection state (never throw for transient faults). */
  reportStatus(state: ConnectionState, message?: string): void;
  readonly portals: PortalApi;
  /**
   * The consent records of a local platform user (e.g. a `consent list` bot command). Optional:
   * a core without it (test doubles) makes the command say it is unavailable.
   */
  consents?(user: PlatformUserId): Promise<{ readonly policy: string; readonly records: readonly AdapterConsent[] }>;
}

/** One write of AdapterStore.batch. */
export type AdapterStoreOp = { readonly type: "put"; readonly key: string; readonly value: unknown } | { readonly type: "del"; readonly key: string };

/** A per-adapter key-value store (the `adapters` namespace, prefixed with the adapter ID). */
export interface AdapterStore {
  get<T>(key: string): Promise<T | undefined>;
  put<T>(key: string, value: T): Promise<void>;
  del(key: string): Promise<void>;
  list<T>(prefix: string): Promise<{ key: string; value: T }[]>;
  /**
   * Applies the ops all or nothing, in order, on disk before it resolves (e.g. a Matrix
   * transaction's dedupe marker together with its queued events, so a crash between them can
   * neither lose nor duplicate). Optional: a store without it makes callers order single writes.
   */
  batch?(ops: readonly AdapterStoreOp[]): Promise<void>;
}

export interface AdapterContext<Config> {
  /** The validated, frozen `adapters.<id>` config section. */
  readonly config: Readonly<Config>;
  /** root.child({ adapter: id }) */
  readonly log: Logger;
  readonly store: AdapterStore;
  readonly core: CoreApi;
  /** Aborted when the provider shuts down. */
  readonly signal: AbortSignal;
}

/** The required surface of every adapter. */
export interface Adapter<Config = unknown> {
  readonly info: AdapterInfo;
  /** Validated by the core before init(); errors are reported with the config's other problems. */
  readonly configSchema: TSchema;
  /** Keeps the context; no I/O. */
  init(ctx: AdapterContext<Config>): void;
  /** Connects to the platform. A platform that is down is reported, not thrown. */
  start(): Promise<void>;
  stop(): Promise<void>;
  capabilities(): AdapterCapabilities;

  // Identity mapping: pure, synchronous, no I/O.
  /** A local platform user's MIMI URI; undefined for a ghost or a user the bridge does not serve. */
  toMimiUri(user: PlatformUserId): string | undefined;
  /** Inverse of toMimiUri: the platform user of one of this provider's MIMI users; undefined if it has none. */
  localUserFor(mimiUri: string): PlatformUserId | undefined;
  /** The platform user (ghost) that stands for a remote MIMI user. */
  ghostFor(mimiUri: string): PlatformUserId;
  /** Inverse of ghostFor; undefined when `user` is not a ghost of this adapter. */
  parseGhost(user: PlatformUserId): string | undefined;
  /**
   * The platform room that shows a MIMI room into which this adapter's users were brought from
   * elsewhere (a Welcome for a room without a portal). Pure. E.g. XMPP: a group becomes a MUC on
   * the component domain; a direct room with one remote user becomes a one-to-one chat.
   */
  platformRoomFor(room: { readonly roomId: string; readonly kind: RoomKindName; readonly localUsers: readonly PlatformUserId[]; readonly remoteUsers: readonly string[] }): PlatformRoomId;

  // Core → platform.
  handleMimiMessage(message: MimiMessage): Promise<DeliveryResult>;
  handleMimiParticipantChange(change: MimiParticipantChange): Promise<void>;
}

// ---- optional capabilities ------------------------------------------------------------------------

export interface EditHandlingAdapter {
  handleMimiEdit(edit: MimiEdit): Promise<DeliveryResult>;
}
export interface RetractionHandlingAdapter {
  handleMimiRetraction(retraction: MimiRetraction): Promise<void>;
}
export interface ReactionHandlingAdapter {
  handleMimiReaction(reaction: MimiReaction): Promise<DeliveryResult>;
  handleMimiReactionRemove(reaction: MimiReaction): Promise<void>;
}
export interface RoomMetadataHandlingAdapter {
  handleMimiRoomMetadata(metadata: MimiRoomMetadata): Promise<void>;
}
export interface ConsentPromptingAdapter {
  handleMimiConsentRequest(request: MimiConsentRequest): Promise<void>;
  handleMimiConsentChange(change: MimiConsentChange): Promise<void>;
}
export interface TypingHandlingAdapter {
  handleMimiTyping(typing: MimiTyping): Promise<void>;
}
export interface ReceiptHandlingAdapter {
  handleMimiReadReceipt(receipt: MimiReadReceipt): Promise<void>;
}
export interface HealthReportingAdapter {
  health(): AdapterStatus;
}
/**
 * An adapter that can ask its platform whether a local user exists. The core asks it when a
 * consent request or a key-material claim (a room add) names mimi://<domain>/u/<name> that has no
 * MIMI account yet: a platform user who never used the bridge is still reachable, so the core
 * creates the account and hosted client on demand. `user` is always `localUserFor(uri)` (never a
 * ghost or the bot). Resolve false for a user the platform does not know; throw (a MimiError)
 * when the platform cannot say (down), so the requester sees a failure rather than silence.
 * Without it, only users that already used the bridge are reachable.
 */
export interface UserDirectoryAdapter {
  platformUserExists(user: PlatformUserId): Promise<boolean>;
}

const has = (a: object, name: string) => typeof (a as Record<string, unknown>)[name] === "function";

export const isEditHandling = (a: Adapter): a is Adapter & EditHandlingAdapter => has(a, "handleMimiEdit");
export const isRetractionHandling = (a: Adapter): a is Adapter & RetractionHandlingAdapter => has(a, "handleMimiRetraction");
export const isReactionHandling = (a: Adapter): a is Adapter & ReactionHandlingAdapter => has(a, "handleMimiReaction") && has(a, "handleMimiReactionRemove");
export const isRoomMetadataHandling = (a: Adapter): a is Adapter & RoomMetadataHandlingAdapter => has(a, "handleMimiRoomMetadata");
export const isConsentPrompting = (a: Adapter): a is Adapter & ConsentPromptingAdapter => has(a, "handleMimiConsentRequest") && has(a, "handleMimiConsentChange");
export const isTypingHandling = (a: Adapter): a is Adapter & TypingHandlingAdapter => has(a, "handleMimiTyping");
export const isReceiptHandling = (a: Adapter): a is Adapter & ReceiptHandlingAdapter => has(a, "handleMimiReadReceipt");
export const isHealthReporting = (a: Adapter): a is Adapter & HealthReportingAdapter => has(a, "health");
export const isUserDirectory = (a: Adapter): a is Adapter & UserDirectoryAdapter => has(a, "platformUserExists");

/**
 * Checks that an adapter's declared capabilities match the optional interfaces it implements
 * (a capability without its handler, or the reverse, is a programming error of the adapter).
 */
export function capabilityMismatches(a: Adapter): string[] {
  const caps = a.capabilities();
  const out: string[] = [];
  const pairs: [keyof AdapterCapabilities, boolean][] = [
    ["edits", isEditHandling(a)],
    ["retractions", isRetractionHandling(a)],
    ["reactions", isReactionHandling(a)],
    ["roomMetadata", isRoomMetadataHandling(a)],
    ["consentPrompts", isConsentPrompting(a)],
    ["typing", isTypingHandling(a)],
    ["readReceipts", isReceiptHandling(a)],
  ];
  for (const [cap, implemented] of pairs) {
    if (caps[cap] === true && !implemented) out.push(`declares ${cap} but does not implement its handler`);
    if (caps[cap] !== true && implemented) out.push(`implements the ${cap} handler but does not declare ${cap}`);
  }
  return out;
}
