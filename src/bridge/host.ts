// The bridge host: runs the adapters and hosts one MLS client (the TypeScript SDK, in-process)
// for each legacy user they serve (DESIGN.md §2 "MLS client host"; docs/ADAPTERS.md is the
// contract with the adapters).
//
// Platform → MIMI: an adapter submits a PlatformEvent; the host acts through the sender's hosted
// client (send, edit, react, create a room, add a user, …), records the platform ↔ MIMI ID
// mapping and the answer in one batch, and deduplicates resubmissions.
// MIMI → platform: every hosted client processes its user's events; for each portal one of the
// local members (the "designated" one, the same choice at every client) decrypts application
// messages and hands each event to the adapter once; the others only keep their MLS state.
//
// End-to-end encryption ends at the bridge for legacy users: their keys live in this provider's
// store (the README and the room's bot policy say so).
import { createHmac, randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Adapter, AdapterContext, CoreApi } from "../adapter/adapter.ts";
import {
  capabilityMismatches,
  isConsentPrompting,
  isEditHandling,
  isReactionHandling,
  isReceiptHandling,
  isRetractionHandling,
  isRoomMetadataHandling,
  isUserDirectory,
} from "../adapter/adapter.ts";
import type { Attachment, MimiSender, PlatformEvent, RoomKindName, SubmitResult } from "../adapter/events.ts";
import type { ConnectionState, PlatformEventId, PlatformRoomId, PlatformUserId } from "../adapter/types.ts";
import { platformEventId as asPlatformEventId } from "../adapter/types.ts";
import { MimiClient } from "../client-api/sdk/client.ts";
import type { ExternalAttachment } from "../client-api/sdk/content.ts";
import type { MimiEvent } from "../client-api/sdk/events.ts";
import { CLIENT_STATE_NAMESPACES } from "../client-api/sdk/state.ts";
import type { RoomKind as SdkRoomKind } from "../client-api/sdk/transport.ts";
import type { NestedPart } from "../content/index.ts";
import { MimiError, isMimiError } from "../errors.ts";
import { parseUserIdentifier, parseUserUri, providerOf } from "../ids/index.ts";
import type { Logger } from "../log.ts";
import type { Services } from "../services.ts";
import { cborCodec, type Store, type TypedNamespace } from "../storage/index.ts";
import { prefixedStore } from "../storage/prefixedStore.ts";
import { LocalTransport } from "./localTransport.ts";
import { PortalStore, adapterStore } from "./portals.ts";

export interface HostedAdapter {
  adapter: Adapter;
  config: unknown;
}

export interface BridgeHostOptions {
  services: Services;
  store: Store;
  logger: Logger;
  adapters: readonly HostedAdapter[];
  /** File of the secret that derives message salts from platform events (mode 0600); undefined: in memory. */
  secretFile?: string | undefined;
  /** Attempts to hand one event to an adapter before giving up on it (with backoff). */
  deliveryAttempts?: number;
}

interface BridgedUser {
  name: string;
  adapter: string;
  platformUser: string;
}

interface Hosted {
  readonly name: string;
  readonly adapter: string;
  readonly platformUser: PlatformUserId;
  readonly client: MimiClient;
  readonly unsubscribe: () => void;
}

const DEVICE_ID = "bridge";
const toSdkKind = (k: RoomKindName): SdkRoomKind => k;

export class BridgeHost {
  readonly #o: BridgeHostOptions;
  readonly #log: Logger;
  readonly #users: TypedNamespace<BridgedUser>;
  readonly #adapters = new Map<string, { adapter: Adapter; portals: PortalStore; ctx: AdapterContext<unknown>; state: ConnectionState }>();
  readonly #hosted = new Map<string, Hosted>();
  /** Every bridged user ever hosted (from the store): the designated-member choice must not depend on start-up order. */
  readonly #bridged = new Set<string>();
  /** Application messages decrypted by hosted clients, and skipped because another local member handles the room. */
  readonly #decrypts = { decrypted: 0, skipped: 0 };
  readonly #starting = new Map<string, Promise<Hosted>>();
  readonly #abort = new AbortController();
  #secret: Uint8Array | undefined;
  #consentOff: (() => void) | undefined;
  #provisionOff: (() => void) | undefined;

  constructor(o: BridgeHostOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: "bridge" });
    this.#users = o.store.namespace("identities").typed(cborCodec<BridgedUser>());
    for (const { adapter, config } of o.adapters) {
      const id = adapter.info.id;
      if (this.#adapters.has(id)) throw new MimiError("MIMI_ERR_CONFIG_INVALID", `adapter ${id} is configured twice`);
      const portals = new PortalStore(o.store, id);
      const ctx: AdapterContext<unknown> = {
        config: config as Readonly<unknown>,
        log: o.logger.child({ adapter: id }),
        store: adapterStore(o.store, id),
        core: this.#coreApi(adapter, portals),
        signal: this.#abort.signal,
      };
      this.#adapters.set(id, { adapter, portals, ctx, state: "starting" });
    }
  }

  /** Connection state per adapter (for /health and metrics). */
  status(): Record<string, ConnectionState> {
    return Object.fromEntries([...this.#adapters].map(([id, a]) => [id, a.state]));
  }

  /** Counters of application-message decryption by hosted clients (DESIGN.md §2: once per room for all local users). */
  decryptStats(): { decrypted: number; skipped: number } {
    return { ...this.#decrypts };
  }

  /** A running adapter by ID (operators' commands, tests). */
  adapter(id: string): Adapter | undefined {
    return this.#adapters.get(id)?.adapter;
  }

  portals(adapter: string): PortalStore | undefined {
    return this.#adapters.get(adapter)?.portals;
  }

  async start(): Promise<void> {
    this.#secret = await this.#loadSecret();
    for (const [id, a] of this.#adapters) {
      const problems = capabilityMismatches(a.adapter);
      if (problems.length) throw new MimiError("MIMI_ERR_INTERNAL", `adapter ${id}: ${problems.join("; ")}`);
      a.adapter.init(a.ctx);
    }
    // Hosted clients of known users resume their event loops (nothing is lost while stopped). All
    // names are known before the first client runs, so every client designates the same member.
    const known: { adapter: string; platformUser: string }[] = [];
    for await (const { value } of this.#users.iterate({ prefix: "bridged/" })) {
      this.#bridged.add(value.name);
      known.push(value);
    }
    for (const value of known) {
      const a = this.#adapters.get(value.adapter);
      if (a) await this.#ensureClient(a.adapter, value.platformUser as PlatformUserId);
    }
    this.#consentOff = this.#o.services.consent.onNotice((n) => void this.#onConsentNotice(n));
    for (const [id, a] of this.#adapters) {
      try {
        await a.adapter.start();
      } catch (err) {
        a.state = "unknown_error";
        this.#log.error({ err, adapter: id }, "adapter failed to start");
      }
    }
    // Once the adapters can answer: a consent request or a room add for a platform user who never
    // used the bridge creates its account and hosted client (#provisionLocalUser).
    this.#provisionOff = this.#o.services.consent.onUnknownLocalUser((uri) => this.#provisionLocalUser(uri));
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#consentOff?.();
    this.#provisionOff?.();
    for (const [id, a] of this.#adapters) {
      try {
        await a.adapter.stop();
      } catch (err) {
        this.#log.error({ err, adapter: id }, "adapter failed to stop");
      }
      a.state = "stopped";
    }
    for (const h of this.#hosted.values()) {
      h.unsubscribe();
      await h.client.close().catch(() => undefined);
    }
    this.#hosted.clear();
  }

  // ---- core API for adapters ----------------------------------------------------------------------

  #coreApi(adapter: Adapter, portals: PortalStore): CoreApi {
    return {
      domain: this.#o.services.domain,
      submit: (event) => this.#submit(adapter, portals, event),
      reportStatus: (state, message) => {
        const a = this.#adapters.get(adapter.info.id);
        if (a) a.state = state;
        this.#log.info({ adapter: adapter.info.id, state, message }, "adapter status");
      },
      portals,
      // A bridge command's `consent list` (Matrix `!mimi consent list`): the user's records, with ghosts.
      consents: async (user) => {
        const uri = this.#mimiUserOf(adapter, user);
        const l = await this.#o.services.consent.list(uri);
        const records = [...l.incoming, ...l.outgoing].map((r) => {
          const peer = r.direction === "incoming" ? r.requester : r.target;
          return { direction: r.direction, peer, peerGhost: adapter.ghostFor(peer), state: r.state, ...(r.roomId === undefined ? {} : { roomId: r.roomId }) };
        });
        return { policy: l.policy.effective, records };
      },
    };
  }

  async #loadSecret(): Promise<Uint8Array> {
    const file = this.#o.secretFile;
    if (file === undefined) return randomBytes(32);
    try {
      return new Uint8Array(Buffer.from((await readFile(file, "utf8")).trim(), "base64"));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new MimiError("MIMI_ERR_STORAGE_IO", `cannot read ${file}`, { cause: err });
    }
    const secret = randomBytes(32);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, secret.toString("base64"), { mode: 0o600, flag: "wx" });
    await chmod(file, 0o600);
    return secret;
  }

  /**
   * The MIMI content salt of a platform event: HMAC(bridge secret, adapter, room, event ID)
   * (draft-ietf-mimi-content §9.2 allows a keyed derivation). A resubmission after a crash builds
   * the same message ID, which receivers drop as a duplicate.
   */
  #salt(adapter: string, room: string, id: string): Uint8Array {
    const h = createHmac("sha256", this.#secret ?? randomBytes(32));
    h.update(`${adapter}\n${room}\n${id}`);
    return new Uint8Array(h.digest().subarray(0, 16));
  }

  // ---- hosted clients -------------------------------------------------------------------------------

  /** The local MIMI user name of a platform user, or undefined (a ghost, a stranger, another domain). */
  #localName(adapter: Adapter, user: PlatformUserId): string | undefined {
    if (adapter.parseGhost(user) !== undefined) return undefined;
    const uri = adapter.toMimiUri(user);
    if (uri === undefined) return undefined;
    try {
      const parsed = parseUserUri(uri);
      return parsed.host === this.#o.services.domain ? parsed.user : undefined;
    } catch {
      return undefined;
    }
  }

  #ensureClient(adapter: Adapter, platformUser: PlatformUserId): Promise<Hosted> {
    const name = this.#localName(adapter, platformUser);
    if (name === undefined) return Promise.reject(new MimiError("MIMI_ERR_BRIDGE_NOT_LOCAL", `${platformUser} is not a user this bridge serves`));
    const existing = this.#hosted.get(name);
    if (existing) return Promise.resolve(existing);
    let p = this.#starting.get(name);
    if (!p) {
      p = this.#startClient(adapter, platformUser, name).finally(() => this.#starting.delete(name));
      this.#starting.set(name, p);
    }
    return p;
  }

  async #startClient(adapter: Adapter, platformUser: PlatformUserId, name: string): Promise<Hosted> {
    const s = this.#o.services;
    if (!(await s.accounts.getUser(name))) {
      // The account of a legacy user: no token is ever handed out (its client lives here).
      await s.accounts.createUser(name).catch((err: unknown) => {
        if (!isMimiError(err, "MIMI_ERR_CLIENT_USER_EXISTS")) throw err;
      });
    }
    const client = new MimiClient({
      apiUrl: "local://",
      state: prefixedStore(this.#o.store, "bridge_clients", name, CLIENT_STATE_NAMESPACES),
      transport: new LocalTransport(s, name),
      logger: this.#o.logger.child({ component: "hosted-client", user: name }),
      persistToken: false,
      pollWaitMs: 10_000,
      decryptApplication: async (roomId) => {
        const designated = await this.#isDesignated(name, roomId);
        this.#decrypts[designated ? "decrypted" : "skipped"]++;
        return designated;
      },
    });
    if ((await client.account()) === undefined) await client.login("local", { deviceId: DEVICE_ID });
    await this.#users.put(`bridged/${name}`, { name, adapter: adapter.info.id, platformUser }, { sync: true });
    this.#bridged.add(name);
    if (this.#abort.signal.aborted) {
      // stop() ran while this client was being made: it would never be closed.
      await client.close().catch(() => undefined);
      throw new MimiError("MIMI_ERR_SDK_CLOSED", "the bridge is stopping");
    }
    const unsubscribe = client.on("*", (event) => this.#onMimiEvent(adapter, name, event));
    const hosted: Hosted = { name, adapter: adapter.info.id, platformUser, client, unsubscribe };
    this.#hosted.set(name, hosted);
    this.#log.info({ user: name, adapter: adapter.info.id }, "hosting an MLS client for a legacy user");
    return hosted;
  }

  /**
   * A local MIMI user without an account (mimi://<our domain>/u/<name>) named by a consent request
   * or a key-material claim: when an adapter maps it to a platform user that its platform has
   * (UserDirectoryAdapter.platformUserExists), the account and hosted client are created now, as
   * at the user's first gesture, so a legacy user is reachable before it ever used the bridge.
   * False for anyone else (unknown users keep the answer unknown users get). An adapter that
   * cannot tell (platform down) throws, and so does this.
   */
  async #provisionLocalUser(uri: string): Promise<boolean> {
    let name: string;
    try {
      const parsed = parseUserUri(uri);
      if (parsed.host !== this.#o.services.domain) return false;
      name = parsed.user;
    } catch {
      return false;
    }
    if (this.#hosted.has(name)) return true;
    for (const { adapter } of this.#adapters.values()) {
      if (!isUserDirectory(adapter)) continue;
      const platformUser = adapter.localUserFor(uri);
      // Only a platform user that maps back to this very name (never a ghost or the bot).
      if (platformUser === undefined || this.#localName(adapter, platformUser) !== name) continue;
      if (!(await adapter.platformUserExists(platformUser))) continue;
      await this.#ensureClient(adapter, platformUser);
      this.#log.info({ adapter: adapter.info.id }, "created the account of a platform user on first contact from MIMI");
      return true;
    }
    return false;
  }

  /**
   * Whether `name` is the one local member that handles `roomId`'s events for the portal: the
   * first (by name) hosted user among the room's participants. Every hosted client computes the
   * same answer from the same epoch's participant list.
   */
  async #isDesignated(name: string, roomId: string): Promise<boolean> {
    const me = this.#hosted.get(name);
    if (!me) return true;
    let participants: readonly { user: string }[];
    try {
      participants = (await me.client.room(roomId)).participants;
    } catch {
      return true;
    }
    const local = participants
      .map((p) => p.user)
      .filter((u) => providerOf(u) === this.#o.services.domain)
      .map((u) => parseUserUri(u).user)
      .filter((u) => this.#bridged.has(u))
      .sort();
    return local.length === 0 || local[0] === name;
  }

  // ---- platform → MIMI ------------------------------------------------------------------------------

  async #submit(adapter: Adapter, portals: PortalStore, event: PlatformEvent): Promise<SubmitResult> {
    const id = adapter.info.id;
    const room = "room" in event && event.room !== undefined ? event.room : "-";
    const earlier = await portals.submitted(room, event.platformEventId);
    if (earlier) return earlier;
    // Built only on the error paths: a child logger per event costs ~1 % of the bridge's CPU (bench/xmpp).
    const log = () => this.#log.child({ adapter: id, type: event.type });
    let result: SubmitResult;
    try {
      result = await this.#apply(adapter, portals, event);
    } catch (err) {
      if (!isMimiError(err)) {
        log().error({ err }, "submitting a platform event failed");
        return { status: "rejected", code: "MIMI_ERR_INTERNAL", message: "internal error" };
      }
      if (RETRYABLE_CODES.has(err.code)) {
        // Not an answer to the event: the core could not act now. Nothing is recorded, so the
        // same event submitted again is tried again (never a message lost to an outage).
        log().warn({ code: err.code }, "platform event not handled now (retryable)");
        return { status: "rejected", code: err.code, message: err.message, retryable: true };
      }
      log().info({ code: err.code }, "platform event rejected");
      result = { status: "rejected", code: err.code, message: err.message };
      // A refusal is an answer too: the same event resubmitted gets it again.
      await portals.batch([portals.submittedOp(room, event.platformEventId, result)]);
      return result;
    }
    return result;
  }

  async #portalOf(portals: PortalStore, room: PlatformRoomId): Promise<{ roomId: string; platformRoom: PlatformRoomId }> {
    const portal = await portals.byPlatformRoom(room);
    if (!portal) throw new MimiError("MIMI_ERR_BRIDGE_NO_PORTAL", `no MIMI room is bridged to ${room}`);
    return portal;
  }

  /** A MIMI user named on the platform: a ghost's MIMI URI, or a local user's. */
  #mimiUserOf(adapter: Adapter, user: PlatformUserId): string {
    const ghost = adapter.parseGhost(user);
    if (ghost !== undefined) return ghost;
    const local = adapter.toMimiUri(user);
    if (local === undefined) throw new MimiError("MIMI_ERR_BRIDGE_NOT_LOCAL", `${user} is neither a ghost nor a user of this bridge`);
    return local;
  }

  async #apply(adapter: Adapter, portals: PortalStore, e: PlatformEvent): Promise<SubmitResult> {
    const id = adapter.info.id;
    const me = await this.#ensureClient(adapter, e.sender);
    const c = me.client;
    const done = async (room: string, result: SubmitResult, extra: ReturnType<PortalStore["mapOps"]> = []): Promise<SubmitResult> => {
      await portals.batch([...extra, portals.submittedOp(room, e.platformEventId, result)]);
      return result;
    };
    switch (e.type) {
      case "message": {
        const p = await this.#portalOf(portals, e.room);
        const salt = this.#salt(id, e.room, e.platformEventId);
        const replyTo = e.replyTo === undefined ? undefined : await portals.messageIdOf(e.room, e.replyTo);
        const text = e.style === "emote" ? `/me ${e.text}` : e.text;
        // The thread as a topicId every provider reads alike (portals.ts, docs/MAPPING.md).
        const topicId = e.thread === undefined || e.thread === "" ? undefined : await portals.topicIdOf(e.room, e.thread);
        const attachments = outgoingAttachments(e.attachments, text);
        // A body that only repeats the attachments' URLs is the platform's fallback for clients
        // without media (XEP-0066 clients show a body that is the URL as the file): MIMI has the parts.
        const onlyUrls = attachments.length > 0 && text.split("\n").every((line) => line.trim() === "" || attachments.some((a) => a.url === line.trim()));
        const markdown = onlyUrls ? undefined : e.markdown;
        const options = {
          salt,
          ...(markdown !== undefined ? { markdown: true } : {}),
          ...(topicId === undefined ? {} : { topicId }),
          ...(attachments.length === 0 ? {} : { attachments }),
        };
        const body = onlyUrls ? "" : (markdown ?? text);
        const messageId = replyTo === undefined ? await c.send(p.roomId, body, options) : await c.reply(p.roomId, replyTo, body, options);
        return done(e.room, { status: "accepted", roomId: p.roomId, messageId }, portals.mapOps(e.room, e.platformEventId, messageId, messageId));
      }
      case "message.edit": {
        const p = await this.#portalOf(portals, e.room);
        const target = await portals.messageIdOf(e.room, e.target);
        if (target === undefined) return { status: "ignored", reason: "the edited message is not known to the bridge" };
        const options = e.markdown !== undefined ? { markdown: true, salt: this.#salt(id, e.room, e.platformEventId) } : { salt: this.#salt(id, e.room, e.platformEventId) };
        const messageId = await c.edit(p.roomId, target, e.markdown ?? e.text, options);
        return done(e.room, { status: "accepted", roomId: p.roomId, messageId }, portals.mapOps(e.room, e.platformEventId, target, messageId));
      }
      case "message.retract": {
        const p = await this.#portalOf(portals, e.room);
        const target = await portals.messageIdOf(e.room, e.target);
        if (target === undefined) return { status: "ignored", reason: "the retracted message is not known to the bridge" };
        const messageId = await c.delete(p.roomId, target, { salt: this.#salt(id, e.room, e.platformEventId) });
        return done(e.room, { status: "accepted", roomId: p.roomId, messageId });
      }
      case "reaction.add":
      case "reaction.remove": {
        const p = await this.#portalOf(portals, e.room);
        const target = await portals.messageIdOf(e.room, e.target);
        if (target === undefined) return { status: "ignored", reason: "the message reacted to is not known to the bridge" };
        const salt = this.#salt(id, e.room, e.platformEventId);
        if (e.type === "reaction.add") {
          const messageId = await c.react(p.roomId, target, e.reaction, { salt });
          return done(e.room, { status: "accepted", roomId: p.roomId, messageId }, portals.mapOps(e.room, e.platformEventId, messageId, messageId));
        }
        const messageId = await c.unreact(p.roomId, target, e.reaction, { salt });
        return done(e.room, { status: "accepted", roomId: p.roomId, messageId });
      }
      case "room.create": {
        const existing = await portals.byPlatformRoom(e.room);
        if (existing) return done(e.room, { status: "accepted", roomId: existing.roomId });
        const invite = e.invite ?? [];
        // Local users of this adapter need their hosted clients (and KeyPackages) before they can be added.
        for (const u of invite) {
          if (providerOf(u) !== this.#o.services.domain) continue;
          const platform = this.#platformUserOf(adapter, u);
          if (platform !== undefined) await this.#ensureClient(adapter, platform);
        }
        const roomId = await c.createRoom(toSdkKind(e.kind), {
          ...(e.name === undefined ? {} : { name: e.name }),
          ...(e.kind === "direct" ? { participants: invite } : {}),
        });
        if (e.kind === "direct") {
          // A direct room lists its peer from the start, but the peer's clients are only added with
          // consent (MIMI-POLICY-29). Without them nothing the platform user writes would reach the
          // peer: add them now (also when the hub named an existing room), or refuse (typically
          // MIMI_ERR_CONSENT_REQUIRED) without linking, so a later attempt can try again.
          const members = (await c.room(roomId)).members;
          for (const u of invite) if (!members.some((m) => m.startsWith(`${u.replace("/u/", "/d/")}/`))) await c.addUser(roomId, u);
        }
        await portals.link(roomId, e.room, e.kind);
        if (e.kind !== "direct") for (const u of invite) await c.addUser(roomId, u);
        if (e.topic !== undefined) await c.updateMetadata(roomId, { subject: e.topic });
        return done(e.room, { status: "accepted", roomId });
      }
      case "room.membership": {
        const p = await this.#portalOf(portals, e.room);
        const target = this.#mimiUserOf(adapter, e.target);
        switch (e.action) {
          case "invite": {
            const platform = this.#platformUserOf(adapter, target);
            if (platform !== undefined && providerOf(target) === this.#o.services.domain) await this.#ensureClient(adapter, platform);
            await c.addUser(p.roomId, target);
            break;
          }
          case "join": {
            // A local user joining a bridged room: by external commit if already a participant,
            // otherwise a hosted member that may add participants adds them.
            // (The joiner's own client is not in the room yet, so it cannot add itself.)
            const joiner = await this.#ensureClient(adapter, e.target);
            if ((await joiner.client.room(p.roomId).catch(() => undefined))?.status === "active") break; // in already
            const members: Hosted[] = [];
            for (const h of this.#hosted.values()) {
              if (h.adapter === id && h !== joiner && (await h.client.room(p.roomId).catch(() => undefined))?.status === "active") members.push(h);
            }
            const info = await members[0]?.client.room(p.roomId);
            if (info?.participants.some((x) => x.user === target) === true) {
              await joiner.client.join(p.roomId);
              break;
            }
            if (members.length === 0) throw new MimiError("MIMI_ERR_SDK_UNKNOWN_ROOM", `no user of this bridge is in ${p.roomId} to add ${target}`);
            // The first hosted member whose role may add users does it.
            let refused: MimiError | undefined;
            for (const m of members) {
              try {
                await m.client.addUser(p.roomId, target);
                refused = undefined;
                break;
              } catch (err) {
                if (!isMimiError(err)) throw err;
                refused = err;
              }
            }
            if (refused !== undefined) throw refused;
            break;
          }
          case "leave":
            await c.leave(p.roomId);
            break;
          case "kick":
            await c.removeUser(p.roomId, target);
            break;
          case "ban":
            await c.ban(p.roomId, target);
            break;
          case "unban":
          case "role":
            await c.setRole(p.roomId, target, e.role ?? "member");
            break;
        }
        return done(e.room, { status: "accepted", roomId: p.roomId });
      }
      case "room.metadata": {
        const p = await this.#portalOf(portals, e.room);
        await c.updateMetadata(p.roomId, { ...(e.name === undefined ? {} : { name: e.name }), ...(e.topic === undefined ? {} : { subject: e.topic }), ...(e.avatar === undefined ? {} : { avatar: e.avatar }) });
        return done(e.room, { status: "accepted", roomId: p.roomId });
      }
      case "consent.request":
      case "consent.grant":
      case "consent.revoke":
      case "consent.cancel": {
        const me2 = this.#mimiUserOf(adapter, e.sender);
        const peer = adapter.parseGhost(e.peer);
        if (peer === undefined) throw new MimiError("MIMI_ERR_BRIDGE_NOT_LOCAL", `${e.peer} is not a remote MIMI user`);
        const portal = e.room === undefined ? undefined : await portals.byPlatformRoom(e.room);
        const roomId = portal?.roomId;
        const consent = this.#o.services.consent;
        if (e.type === "consent.request") await consent.request({ requester: me2, target: peer, roomId });
        else if (e.type === "consent.cancel") await consent.cancel({ requester: me2, target: peer, roomId });
        else if (e.type === "consent.grant") await consent.grant({ target: me2, requester: peer, roomId });
        else await consent.revoke({ target: me2, requester: peer, roomId });
        return done(e.room ?? "-", { status: "accepted" });
      }
      case "identifier.query": {
        const id2 = parseUserIdentifier(e.query);
        if (id2.kind === "ssi") return { status: "accepted", resolved: [{ mimiUri: id2.uri, ghost: adapter.ghostFor(id2.uri) }] };
        const user = await this.#o.services.accounts.getUser(me.name);
        if (!user) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED", `no local user ${me.name}`);
        const found = await this.#o.services.discovery.discover(user, e.query);
        return {
          status: "accepted",
          resolved: found.mappings.map((m) => ({ mimiUri: m.ssi, ghost: adapter.ghostFor(m.ssi), ...(m.tag === undefined ? {} : { tags: [m.tag] }) })),
        };
      }
      case "receipt.read": {
        // A platform read marker → a message status report (draft-mahy-mimi-message-status-01).
        const p = await this.#portalOf(portals, e.room);
        const target = await portals.messageIdOf(e.room, e.target);
        if (target === undefined) return { status: "ignored", reason: "the message read is not known to the bridge" };
        const messageId = await c.markRead(p.roomId, [target], { salt: this.#salt(id, e.room, e.platformEventId) });
        return done(e.room, { status: "accepted", roomId: p.roomId, messageId });
      }
      case "typing":
        // MIMI defines no typing indicator (content-08, message-status-01): nothing to carry.
        return { status: "ignored", reason: "MIMI has no typing indicator" };
    }
  }

  /** A local MIMI user's platform user on this adapter (undefined: the user is not one of its users). */
  #platformUserOf(adapter: Adapter, mimiUri: string): PlatformUserId | undefined {
    if (providerOf(mimiUri) !== this.#o.services.domain) return undefined;
    const hosted = this.#hosted.get(parseUserUri(mimiUri).user);
    if (hosted !== undefined) return hosted.adapter === adapter.info.id ? hosted.platformUser : undefined;
    return adapter.localUserFor(mimiUri);
  }

  // ---- MIMI → platform ------------------------------------------------------------------------------

  #sender(adapter: Adapter, user: string): MimiSender {
    const hosted = providerOf(user) === this.#o.services.domain ? this.#hosted.get(parseUserUri(user).user) : undefined;
    if (hosted && hosted.adapter === adapter.info.id) return { mimiUri: user, platformUser: hosted.platformUser, local: true };
    return { mimiUri: user, platformUser: adapter.ghostFor(user), local: false };
  }

  async #withRetries(what: string, fn: () => Promise<void>): Promise<void> {
    const attempts = this.#o.deliveryAttempts ?? 5;
    for (let i = 1; ; i++) {
      try {
        await fn();
        return;
      } catch (err) {
        if (i >= attempts || this.#abort.signal.aborted) {
          this.#log.error({ err, what }, "giving up handing an event to the adapter");
          return;
        }
        await new Promise((r) => setTimeout(r, Math.min(5_000, 100 * 2 ** i)));
      }
    }
  }

  /** Makes sure the room has a portal (a room created elsewhere gets one from the adapter). */
  async #ensurePortal(adapter: Adapter, portals: PortalStore, name: string, roomId: string): Promise<{ platformRoom: PlatformRoomId; created: boolean }> {
    const existing = await portals.byRoom(roomId);
    if (existing) return { platformRoom: existing.platformRoom, created: false };
    const hosted = this.#hosted.get(name);
    const info = hosted ? await hosted.client.room(roomId) : undefined;
    const kind: RoomKindName = info?.kind === "direct" ? "direct" : info?.kind === "channel" || info?.kind === "moderatedChannel" ? "channel" : "group";
    const localUsers: PlatformUserId[] = [];
    const remoteUsers: string[] = [];
    for (const p of info?.participants ?? []) {
      const s = this.#sender(adapter, p.user);
      if (s.local) localUsers.push(s.platformUser);
      else remoteUsers.push(p.user);
    }
    const platformRoom = adapter.platformRoomFor({ roomId, kind, localUsers, remoteUsers });
    await portals.link(roomId, platformRoom, kind);
    return { platformRoom, created: true };
  }

  async #onMimiEvent(adapter: Adapter, name: string, event: MimiEvent): Promise<void> {
    const a = this.#adapters.get(adapter.info.id);
    if (!a) return;
    const portals = a.portals;
    const log = () => this.#log.child({ adapter: adapter.info.id, roomId: event.roomId, type: event.type });
    if (event.type === "joined") {
      // A room this client created was asked for by a platform event (room.create), whose
      // handler links the portal to the platform room it names.
      if (event.via === "create") return;
      const { platformRoom, created } = await this.#ensurePortal(adapter, portals, name, event.roomId);
      // A new portal shows everyone in the room; an existing one only the user who joined now.
      const hosted = this.#hosted.get(name);
      const info = hosted ? await hosted.client.room(event.roomId).catch(() => undefined) : undefined;
      const mine = `mimi://${this.#o.services.domain}/u/${name}`;
      const announce = (info?.participants ?? []).filter((p) => created || p.user === mine);
      for (const p of announce) {
        await this.#withRetries("participant added", () =>
          adapter.handleMimiParticipantChange({ room: platformRoom, roomId: event.roomId, change: "added", user: p.user, platformUser: this.#sender(adapter, p.user).platformUser, role: p.roleName, timestamp: event.timestamp }),
        );
      }
      return;
    }
    // Everything else is handled once per portal, by the designated member.
    if (!(await this.#isDesignated(name, event.roomId))) return;
    const portal = await portals.byRoom(event.roomId);
    const platformRoom = portal?.platformRoom ?? (await this.#ensurePortal(adapter, portals, name, event.roomId)).platformRoom;
    switch (event.type) {
      case "message": {
        const sender = this.#sender(adapter, event.sender.user);
        // A local user's own message is already on the platform (it came from there).
        if (sender.local) return;
        if ((await portals.platformEventOf(platformRoom, event.messageId)) !== undefined) return; // delivered before a restart
        const base = { room: platformRoom, roomId: event.roomId, sender, timestamp: event.timestamp, messageId: event.messageId };
        const targetOf = async (id: string | undefined): Promise<PlatformEventId | undefined> => (id === undefined ? undefined : portals.platformEventOf(platformRoom, id));
        // GFM-MIMI Markdown is handed to adapters as such (Matrix renders it; XMPP shows the text).
        const part = textPartOf(event.content.nestedPart);
        const markdown = part !== undefined && part.contentType.toLowerCase().startsWith("text/markdown");
        await this.#withRetries(`message ${event.kind}`, async () => {
          let created: PlatformEventId | undefined;
          if (event.kind === "text") {
            const replyTo = await targetOf(event.inReplyTo);
            const thread = event.topicId === undefined ? undefined : await portals.threadOf(platformRoom, event.topicId);
            const attachments = incomingAttachments(event.attachments);
            // Files the platform cannot be given (encrypted, or not http(s)): without a word the
            // user would see an empty message and never learn a file was sent.
            const withheld = (event.attachments?.length ?? 0) - attachments.length + (event.droppedAttachments?.length ?? 0);
            const note = withheld > 0 ? `[${withheld === 1 ? "a file" : `${withheld} files`} that cannot be shown through the bridge]` : "";
            const text = note === "" ? event.text : event.text.trim() === "" ? note : `${event.text}\n${note}`;
            const r = await adapter.handleMimiMessage({
              ...base,
              text,
              ...(markdown ? { markdown: text } : {}),
              ...(replyTo === undefined ? {} : { replyTo }),
              ...(event.inReplyTo === undefined ? {} : { replyToMessageId: event.inReplyTo }),
              ...(thread === undefined ? {} : { thread }),
              ...(attachments.length === 0 ? {} : { attachments }),
            });
            created = r.platformEventId;
          } else if (event.kind === "edit") {
            const target = await targetOf(event.replaces);
            if (target === undefined || !isEditHandling(adapter)) return;
            created = (await adapter.handleMimiEdit({ ...base, target, text: event.text, ...(markdown ? { markdown: event.text } : {}) })).platformEventId;
          } else if (event.kind === "delete") {
            const target = await targetOf(event.replaces);
            if (target === undefined || !isRetractionHandling(adapter)) return;
            await adapter.handleMimiRetraction({ ...base, target });
          } else if (event.kind === "reaction") {
            const target = await targetOf(event.inReplyTo);
            if (target === undefined || !isReactionHandling(adapter)) return;
            created = (await adapter.handleMimiReaction({ ...base, target, reaction: event.reaction ?? event.text })).platformEventId;
          } else if (event.kind === "unreact") {
            const target = await targetOf(event.inReplyTo);
            if (target === undefined || !isReactionHandling(adapter)) return;
            await adapter.handleMimiReactionRemove({ ...base, target, reaction: event.reaction ?? "" });
          } else if (event.kind === "status") {
            // draft-mahy-mimi-message-status-01: "read" entries become read markers on the platform.
            if (!isReceiptHandling(adapter)) return;
            for (const entry of event.statuses ?? []) {
              if (entry.status !== "read") continue;
              const target = await targetOf(entry.messageId);
              if (target !== undefined) await adapter.handleMimiReadReceipt({ room: platformRoom, sender, target });
            }
          }
          // Record what the platform shows for this message (the adapter's ID, or a marker).
          const shown = created ?? asPlatformEventId(`mimi:${event.messageId}`);
          const first = event.kind === "edit" && event.replaces !== undefined ? event.replaces : event.messageId;
          await portals.batch(portals.mapOps(platformRoom, shown, first, event.messageId));
        });
        return;
      }
      case "participantAdded":
      case "participantRemoved":
      case "participantBanned":
      case "roleChanged":
      case "left": {
        const user = event.type === "left" ? undefined : event.user;
        // The hosted client's own removal says why (SDK LeftEvent.reason): a ban must show as a
        // ban on the platform (Matrix ban, XMPP 301), a removal as a kick, a leave as a leave.
        const change =
          event.type === "participantAdded"
            ? "added"
            : event.type === "participantRemoved"
              ? "removed"
              : event.type === "participantBanned"
                ? "banned"
                : event.type === "roleChanged"
                  ? "role"
                  : event.reason;
        const subject = user ?? `mimi://${this.#o.services.domain}/u/${name}`;
        // The SDK reports role indexes; adapters get the room policy's role names (MimiParticipantChange.role).
        const roleIndex = event.type === "participantAdded" ? event.role : event.type === "roleChanged" ? event.to : undefined;
        const role = roleIndex === undefined ? undefined : await this.#roleName(name, event.roomId, roleIndex);
        await this.#withRetries(`participant ${change}`, () =>
          adapter.handleMimiParticipantChange({
            room: platformRoom,
            roomId: event.roomId,
            change,
            user: subject,
            platformUser: this.#sender(adapter, subject).platformUser,
            ...(role === undefined ? {} : { role }),
            ...("by" in event && event.by !== undefined ? { by: event.by } : {}),
            timestamp: event.timestamp,
          }),
        );
        return;
      }
      case "roomMetadata":
        if (!isRoomMetadataHandling(adapter)) return;
        await this.#withRetries("room metadata", () =>
          adapter.handleMimiRoomMetadata({
            room: platformRoom,
            roomId: event.roomId,
            ...(event.name === undefined ? {} : { name: event.name }),
            ...(event.subject === undefined ? {} : { subject: event.subject }),
            ...(event.avatar === undefined ? {} : { avatar: event.avatar }),
            ...(event.by === undefined ? {} : { by: event.by }),
          }),
        );
        return;
      default:
        log().debug("not handed to the adapter");
    }
  }

  /** The name of role `index` in the room's policy, as the user's hosted client knows it. */
  async #roleName(name: string, roomId: string, index: number): Promise<string> {
    const info = await this.#hosted.get(name)?.client.room(roomId).catch(() => undefined);
    return info?.participants.find((p) => p.role === index)?.roleName ?? String(index);
  }

  async #onConsentNotice(n: { kind: string; requester: string; target: string; roomId: string | undefined }): Promise<void> {
    // A request or cancel names a local target; a grant or revoke a local requester.
    const localUser = n.kind === "request" || n.kind === "cancel" ? n.target : n.requester;
    const peer = n.kind === "request" || n.kind === "cancel" ? n.requester : n.target;
    if (providerOf(localUser) !== this.#o.services.domain) return;
    // The adapter that serves the user: the one hosting its client, else the first that maps it
    // (an account without a running client). A legacy user who never used the bridge has a
    // hosted client by now: the consent service had it created (#provisionLocalUser).
    const hosted = this.#hosted.get(parseUserUri(localUser).user);
    let target: { adapter: Adapter; platformUser: PlatformUserId } | undefined;
    if (hosted) {
      const a = this.#adapters.get(hosted.adapter);
      if (a) target = { adapter: a.adapter, platformUser: hosted.platformUser };
    } else {
      for (const a of this.#adapters.values()) {
        const platformUser = a.adapter.localUserFor(localUser);
        if (platformUser !== undefined) {
          target = { adapter: a.adapter, platformUser };
          break;
        }
      }
    }
    if (!target || !isConsentPrompting(target.adapter)) return;
    const { adapter, platformUser } = target;
    if (n.kind === "request") {
      await this.#withRetries("consent request", () =>
        adapter.handleMimiConsentRequest({ target: platformUser, requester: peer, requesterGhost: adapter.ghostFor(peer), ...(n.roomId === undefined ? {} : { roomId: n.roomId }) }),
      );
    } else if (n.kind === "grant" || n.kind === "revoke") {
      await this.#withRetries("consent change", () =>
        adapter.handleMimiConsentChange({ target: platformUser, peer, peerGhost: adapter.ghostFor(peer), change: n.kind === "grant" ? "granted" : "revoked" }),
      );
    }
  }
}

/**
 * Errors that say "not now" rather than "no": another provider (the room's hub) or the hosted
 * client's transport unreachable or timing out, a commit race lost too often, storage busy or
 * closing, the bridge shutting down, a platform that cannot answer. A submission failing with
 * one of these is not recorded as the event's answer (SubmitResult.retryable).
 */
const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  "MIMI_ERR_PEER_UNREACHABLE",
  "MIMI_ERR_PEER_TIMEOUT",
  "MIMI_ERR_SDK_UNREACHABLE",
  "MIMI_ERR_SDK_CONFLICT",
  "MIMI_ERR_SDK_CLOSED",
  "MIMI_ERR_STORAGE_IO",
  "MIMI_ERR_STORAGE_CLOSED",
  "MIMI_ERR_STORAGE_LOCK_TIMEOUT",
  "MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE",
]);

/**
 * A platform message's attachments as ExternalParts (content §4.5): only http(s) URLs, which every
 * MIMI receiver can fetch (adapters turn their platform's media into such URLs, e.g. Matrix's
 * authenticated media). A message that had only unusable attachments and no text is refused.
 */
function outgoingAttachments(given: readonly Attachment[] | undefined, text: string): ExternalAttachment[] {
  const out: ExternalAttachment[] = [];
  for (const a of given ?? []) {
    if (!isHttpUrl(a.url)) continue;
    out.push({
      url: a.url,
      contentType: a.contentType,
      ...(a.size === undefined ? {} : { size: a.size }),
      ...(a.filename === undefined ? {} : { filename: a.filename }),
      ...(a.description === undefined ? {} : { description: a.description }),
    });
  }
  if (out.length === 0 && (given?.length ?? 0) > 0 && text.trim() === "") {
    throw new MimiError("MIMI_ERR_CONTENT_BAD_URL", "the message's attachments have no http(s) URL");
  }
  return out;
}

/**
 * What the platform gets of a MIMI message's ExternalParts: the unencrypted ones (a platform
 * cannot decrypt an AES-GCM file, content §4.5, and a link to ciphertext helps no one).
 */
function incomingAttachments(given: readonly ExternalAttachment[] | undefined): Attachment[] {
  return (given ?? [])
    .filter((a) => (a.encAlg ?? 0) === 0)
    .map((a) => ({
      url: a.url,
      contentType: a.contentType,
      ...(a.size === undefined ? {} : { size: a.size }),
      ...(a.filename === undefined ? {} : { filename: a.filename }),
      ...(a.description === undefined ? {} : { description: a.description }),
    }));
}

function isHttpUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return (u.protocol === "http:" || u.protocol === "https:") && u.hostname !== "";
  } catch {
    return false;
  }
}

/** The text part of a body: the body itself, or the first text/* SinglePart of a MultiPart (content §4.3). */
function textPartOf(part: NestedPart): Extract<NestedPart, { cardinality: "single" }> | undefined {
  if (part.cardinality === "single") return /^text\//i.test(part.contentType) ? part : undefined;
  if (part.cardinality !== "multi") return undefined;
  for (const p of part.parts) {
    const found = textPartOf(p);
    if (found !== undefined) return found;
  }
  return undefined;
}
