// The loopback adapter: an in-memory "platform" for the adapter conformance suite and for
// trying the bridge without a chat server (docs/ADAPTERS.md). It implements every optional
// capability, so the suite exercises the whole contract; a real adapter implements the ones its
// platform can express.
//
// Platform identifiers:
//   local user   <name>                       (mimi://<domain>/u/<name>)
//   ghost        ~<mimi user URI>              (a remote MIMI user)
//   room         #<name> (bridged from the platform) | mimi:<room URI> (created in MIMI)
//                | dm:<local>|<remote URI> (a direct room)
// Platform event IDs of what the core delivers are `lb:<MIMI message ID>`: deterministic, so a
// repeated delivery is recognised by the platform and never shown twice (the contract's rule).
import { LoopbackConfigSchema, type LoopbackConfig } from "./config.ts";
import {
  type Adapter,
  type AdapterCapabilities,
  type AdapterContext,
  type Attachment,
  type ConsentPromptingAdapter,
  type DeliveryResult,
  type EditHandlingAdapter,
  type MimiConsentChange,
  type MimiConsentRequest,
  type MimiEdit,
  type MimiMessage,
  type MimiParticipantChange,
  type MimiReaction,
  type MimiReadReceipt,
  type MimiRetraction,
  type MimiRoomMetadata,
  type PlatformEvent,
  type PlatformEventId,
  type PlatformRoomId,
  type PlatformUserId,
  type ReactionHandlingAdapter,
  type ReceiptHandlingAdapter,
  type RetractionHandlingAdapter,
  type RoomKindName,
  type RoomMetadataHandlingAdapter,
  type SubmitResult,
  adapterId,
  parseMimiUri,
  platformEventId,
  platformRoomId,
  platformUserId,
  userUri,
} from "../../src/adapter/index.ts";

export { LoopbackConfigSchema, type LoopbackConfig };

/** One thing the platform shows in a room (what a platform user would see). */
export type LoopbackEntry =
  | {
      kind: "message";
      id: PlatformEventId;
      from: PlatformUserId;
      text: string;
      replyTo?: PlatformEventId;
      messageId: string;
      markdown?: string;
      /** The platform thread (its root's platform event ID, or another thread string). */
      thread?: string;
      attachments?: readonly Attachment[];
    }
  | { kind: "edit"; id: PlatformEventId; from: PlatformUserId; target: PlatformEventId; text: string }
  | { kind: "retract"; from: PlatformUserId; target: PlatformEventId }
  | { kind: "reaction"; id: PlatformEventId; from: PlatformUserId; target: PlatformEventId; reaction: string }
  | { kind: "unreact"; from: PlatformUserId; target: PlatformEventId; reaction: string }
  | { kind: "participant"; change: MimiParticipantChange["change"]; user: PlatformUserId; mimiUri: string; role?: string }
  | { kind: "metadata"; name?: string; subject?: string }
  | { kind: "receipt"; from: PlatformUserId; target: PlatformEventId };

type Listener = () => void;

export class LoopbackAdapter
  implements Adapter<LoopbackConfig>, EditHandlingAdapter, RetractionHandlingAdapter, ReactionHandlingAdapter, RoomMetadataHandlingAdapter, ConsentPromptingAdapter, ReceiptHandlingAdapter
{
  readonly info = { id: adapterId("loopback"), displayName: "Loopback (in-memory platform)", version: "1.0.0" };
  readonly configSchema = LoopbackConfigSchema;
  #ctx: AdapterContext<LoopbackConfig> | undefined;
  #platform: LoopbackPlatform | undefined;

  init(ctx: AdapterContext<LoopbackConfig>): void {
    this.#ctx = ctx;
    this.#platform = loopbackPlatform(ctx.core.domain);
  }
  start(): Promise<void> {
    this.#core().reportStatus("connected");
    return Promise.resolve();
  }
  stop(): Promise<void> {
    return Promise.resolve();
  }
  capabilities(): AdapterCapabilities {
    return { edits: true, replies: true, reactions: true, retractions: true, typing: false, readReceipts: true, roomMetadata: true, consentPrompts: true, identifierResolution: true };
  }

  #core() {
    if (!this.#ctx) throw new Error("the loopback adapter is not initialised");
    return this.#ctx.core;
  }

  // ---- identities --------------------------------------------------------------------------------

  toMimiUri(user: PlatformUserId): string | undefined {
    if (!/^[a-z0-9._-]{1,64}$/.test(user)) return undefined;
    const allowed = this.#ctx?.config.users ?? [];
    if (allowed.length > 0 && !allowed.includes(user)) return undefined;
    return userUri(this.#core().domain, user);
  }
  localUserFor(mimiUri: string): PlatformUserId | undefined {
    try {
      const p = parseMimiUri(mimiUri);
      const name = p.segments[0];
      if (p.kind !== "user" || p.host !== this.#core().domain || name === undefined) return undefined;
      const user = platformUserId(name);
      return this.toMimiUri(user) === undefined ? undefined : user;
    } catch {
      return undefined;
    }
  }
  ghostFor(mimiUri: string): PlatformUserId {
    // One ghost per MIMI user, whatever the URI's spelling (an IRI or its percent-encoded form).
    let canonical = mimiUri;
    try {
      canonical = parseMimiUri(mimiUri).uri;
    } catch {
      // not a MIMI URI: kept as given
    }
    return platformUserId(`~${canonical}`);
  }
  parseGhost(user: PlatformUserId): string | undefined {
    return user.startsWith("~mimi://") ? user.slice(1) : undefined;
  }
  platformRoomFor(room: { readonly roomId: string; readonly kind: RoomKindName; readonly localUsers: readonly PlatformUserId[]; readonly remoteUsers: readonly string[] }): PlatformRoomId {
    const [local] = room.localUsers;
    const [remote, ...more] = room.remoteUsers;
    if (room.kind === "direct" && local !== undefined && remote !== undefined && more.length === 0 && room.localUsers.length === 1) return platformRoomId(`dm:${local}|${remote}`);
    return platformRoomId(`mimi:${room.roomId}`);
  }

  /** The platform this adapter serves (shared by every adapter instance for the same domain, so it outlives a restart of the bridge). */
  get platform(): LoopbackPlatform {
    if (!this.#platform) throw new Error("the loopback adapter is not initialised");
    return this.#platform;
  }

  /** A local user acts on the platform: the adapter submits the event to the core. */
  async act(event: PlatformEvent): Promise<SubmitResult> {
    const result = await this.#core().submit(event);
    if (result.status === "accepted" && event.type === "message") {
      this.platform.show(event.room, {
        kind: "message",
        id: event.platformEventId,
        from: event.sender,
        text: event.text,
        ...(event.replyTo === undefined ? {} : { replyTo: event.replyTo }),
        messageId: result.messageId ?? "",
        ...(event.thread === undefined ? {} : { thread: event.thread }),
        ...(event.attachments === undefined ? {} : { attachments: event.attachments }),
      });
    }
    return result;
  }

  // ---- core → platform ------------------------------------------------------------------------------

  handleMimiMessage(m: MimiMessage): Promise<DeliveryResult> {
    const id = platformEventId(`lb:${m.messageId}`);
    if (this.platform.deliver(id)) {
      this.platform.show(m.room, {
        kind: "message",
        id,
        from: m.sender.platformUser,
        text: m.text,
        ...(m.replyTo === undefined ? {} : { replyTo: m.replyTo }),
        messageId: m.messageId,
        ...(m.markdown === undefined ? {} : { markdown: m.markdown }),
        ...(m.thread === undefined ? {} : { thread: m.thread }),
        ...(m.attachments === undefined ? {} : { attachments: m.attachments }),
      });
    }
    return Promise.resolve({ platformEventId: id });
  }
  handleMimiEdit(e: MimiEdit): Promise<DeliveryResult> {
    const id = platformEventId(`lb:${e.messageId}`);
    if (this.platform.deliver(id)) this.platform.show(e.room, { kind: "edit", id, from: e.sender.platformUser, target: e.target, text: e.text });
    return Promise.resolve({ platformEventId: id });
  }
  handleMimiRetraction(r: MimiRetraction): Promise<void> {
    if (this.platform.deliver(`lb:${r.messageId}`)) this.platform.show(r.room, { kind: "retract", from: r.sender.platformUser, target: r.target });
    return Promise.resolve();
  }
  handleMimiReaction(r: MimiReaction): Promise<DeliveryResult> {
    const id = platformEventId(`lb:${r.messageId}`);
    if (this.platform.deliver(id)) this.platform.show(r.room, { kind: "reaction", id, from: r.sender.platformUser, target: r.target, reaction: r.reaction });
    return Promise.resolve({ platformEventId: id });
  }
  handleMimiReactionRemove(r: MimiReaction): Promise<void> {
    if (this.platform.deliver(`lb:${r.messageId}`)) this.platform.show(r.room, { kind: "unreact", from: r.sender.platformUser, target: r.target, reaction: r.reaction });
    return Promise.resolve();
  }
  handleMimiParticipantChange(c: MimiParticipantChange): Promise<void> {
    if (this.platform.failNext > 0) {
      this.platform.failNext--;
      return Promise.reject(new Error("loopback: injected delivery failure"));
    }
    this.platform.show(c.room, { kind: "participant", change: c.change, user: c.platformUser, mimiUri: c.user, ...(c.role === undefined ? {} : { role: c.role }) });
    return Promise.resolve();
  }
  handleMimiReadReceipt(r: MimiReadReceipt): Promise<void> {
    this.platform.show(r.room, { kind: "receipt", from: r.sender.platformUser, target: r.target });
    return Promise.resolve();
  }
  handleMimiRoomMetadata(m: MimiRoomMetadata): Promise<void> {
    this.platform.show(m.room, { kind: "metadata", ...(m.name === undefined ? {} : { name: m.name }), ...(m.subject === undefined ? {} : { subject: m.subject }) });
    return Promise.resolve();
  }
  handleMimiConsentRequest(r: MimiConsentRequest): Promise<void> {
    this.platform.consentPrompts.push(r);
    this.platform.changed();
    return Promise.resolve();
  }
  handleMimiConsentChange(c: MimiConsentChange): Promise<void> {
    this.platform.consentChanges.push(c);
    this.platform.changed();
    return Promise.resolve();
  }
}

/** The in-memory platform: rooms and what they show, as the platform's users see them. */
export class LoopbackPlatform {
  #seq = 0;
  readonly #rooms = new Map<PlatformRoomId, LoopbackEntry[]>();
  readonly #seen = new Set<string>();
  readonly #listeners = new Set<Listener>();
  /** Deliveries of an already shown platform event ID (the core retried): counted, not shown. */
  repeatedDeliveries = 0;
  /** Consent prompts and outcomes shown to local users. */
  readonly consentPrompts: MimiConsentRequest[] = [];
  readonly consentChanges: MimiConsentChange[] = [];
  /** Makes the next `n` deliveries throw (the core must retry them). */
  failNext = 0;

  /** What the platform shows in a room, in order. */
  transcript(room: PlatformRoomId | string): readonly LoopbackEntry[] {
    return this.#rooms.get(platformRoomId(room)) ?? [];
  }
  rooms(): PlatformRoomId[] {
    return [...this.#rooms.keys()];
  }
  /** Resolves when `pred` holds (checked after every change), or rejects after `timeoutMs`. */
  waitFor<T>(pred: () => T | undefined, what: string, timeoutMs = 30_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = pred();
        if (v === undefined) return;
        cleanup();
        resolve(v);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`loopback: timed out waiting for ${what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#listeners.delete(check);
      };
      this.#listeners.add(check);
      check();
    });
  }
  /** A new platform event ID (or `id` when a test wants to resubmit the same one). */
  nextId(): PlatformEventId {
    return platformEventId(`p${++this.#seq}`);
  }
  show(room: PlatformRoomId, entry: LoopbackEntry): void {
    const list = this.#rooms.get(room) ?? [];
    list.push(entry);
    this.#rooms.set(room, list);
    this.changed();
  }
  changed(): void {
    for (const l of [...this.#listeners]) l();
  }
  /** Platform-side dedupe by the deterministic ID; throws while `failNext` is set. */
  deliver(id: string): boolean {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error("loopback: injected delivery failure");
    }
    if (this.#seen.has(id)) {
      this.repeatedDeliveries++;
      return false;
    }
    this.#seen.add(id);
    return true;
  }

}

const platforms = new Map<string, LoopbackPlatform>();
/** The loopback platform of a provider domain (one per process and domain). */
export function loopbackPlatform(domain: string): LoopbackPlatform {
  let p = platforms.get(domain);
  if (!p) {
    p = new LoopbackPlatform();
    platforms.set(domain, p);
  }
  return p;
}
/** Forgets a domain's platform (tests, between worlds). */
export function resetLoopbackPlatform(domain: string): void {
  platforms.delete(domain);
}

export function loopbackAdapter(): LoopbackAdapter {
  return new LoopbackAdapter();
}
