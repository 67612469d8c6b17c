// The Matrix adapter (issue 6): an application service that makes a homeserver's users MIMI users
// of the provider's domain and shows remote MIMI users (ghosts in the exclusive namespace) and
// MIMI rooms (portal rooms) on the homeserver. docs/ADAPTERS.md is the contract with the core.
//
// Traceability (the same IDs name the tests):
//   MIMI-MATRIX-02 transactions: stored before the 200, handed over once, in order per room (appservice.ts);
//                  outbound sends with txnIds derived from the MIMI message ID (intents.ts)
//   MIMI-MATRIX-03 users and consent: local users ⇔ mimi://<provider>/u/<localpart>; ghosts;
//                  invite of a ghost into an is_direct room = consent.request (then a MIMI direct
//                  room); a MIMI consent request = a DM from the ghost, join = grant, leave = revoke
//   MIMI-MATRIX-04 rooms: portals both ways (rooms created for MIMI rooms get a deterministic alias
//                  in the exclusive alias namespace, so creation is idempotent); membership
//                  (invite, join, leave, kick, ban) and power levels ⇔ roles both ways; name and
//                  topic ⇔ metadata; `!mimi bridge|unbridge|status|help` bot commands
//   MIMI-MATRIX-05 messages: text, notices, emotes, replies, edits, reactions, redactions
//   MIMI-MATRIX-07 connection state (whoami) reported, retried with backoff; Prometheus metrics
//                  and /health on their own optional listener (metrics.ts)
//   MIMI-MATRIX-08 room upgrades: an m.room.tombstone moves the portal to the replacement room
//                  (bot and ghosts follow); the old room keeps resolving late events
//   MIMI-MATRIX-09 knocks (no MIMI equivalent: protocol-06 reserves canKnock); MIMI adds into a
//                  knock room through the bot's invite
//   MIMI-MATRIX-10 avatars: m.room.avatar (mxc) ⇄ room_metadata roomAvatar (authenticated media URL)
//   MIMI-MATRIX-11 `!mimi invite` (discovery through identifier.query) and `!mimi consent`
//
// Platform room IDs of portals: a Matrix room ID ("!…") for rooms bridged from Matrix, or the
// room's alias ("#_mimi_room_<hash>:<domain>") for rooms the adapter created for a MIMI room
// (platformRoomFor must be pure; the alias is known before the room exists). The adapter store
// maps an alias portal's Matrix room ID back to it (`rid/<room id>`).
import {
  KeyedSerial,
  MimiError,
  adapterId,
  platformEventId,
  platformRoomId,
  platformUserId,
  type Adapter,
  type AdapterCapabilities,
  type AdapterContext,
  type AdapterStatus,
  type AdapterStoreOp,
  type ConsentPromptingAdapter,
  type DeliveryResult,
  type EditHandlingAdapter,
  type HealthReportingAdapter,
  type MimiConsentChange,
  type MimiConsentRequest,
  type MimiEdit,
  type MimiMessage,
  type MimiParticipantChange,
  type MimiReaction,
  type MimiReadReceipt,
  type MimiRetraction,
  type MimiRoomMetadata,
  type MimiTyping,
  type PlatformEvent,
  type PlatformRoomId,
  type PlatformUserId,
  type Portal,
  type ReactionHandlingAdapter,
  type ReceiptHandlingAdapter,
  type RetractionHandlingAdapter,
  type RoomKindName,
  type RoomMetadataHandlingAdapter,
  type SubmitResult,
  type TypingHandlingAdapter,
} from "../../src/adapter/index.ts";
import { TransactionServer, type MatrixEphemeral, type MatrixEvent, type TransactionSink } from "./appservice.ts";
import { MatrixConfigSchema, ghostNamespace, resolveMatrixConfig, type MatrixConfig } from "./config.ts";
import { EphemeralMapper, avatarToMatrix, editContent, inboundEvents, messageContent, reactionContent, txnIdFor, type MappingContext } from "./mapping.ts";
import { MatrixMetrics, MetricsServer, typeLabel } from "./metrics.ts";
import { MatrixIds, sha256Hex } from "./ghosts.ts";
import { Homeserver, errText, errcodeOf, type RegistrationData } from "./intents.ts";

export const MATRIX_ADAPTER_VERSION = "0.1.0";

/** Power level ↔ MIMI role names (group and channel presets). */
export function powerLevelOfRole(role: string | undefined): number | undefined {
  switch (role) {
    case "admin":
    case "super_admin":
      return 100;
    case "moderator":
      return 50;
    case "speaker":
      return 10;
    case "member":
    case "participant":
    case "attendee":
    case "guest":
      return 0;
    default:
      return undefined;
  }
}

export function roleOfPowerLevel(level: number, kind: RoomKindName): string {
  if (kind === "channel") return level >= 100 ? "super_admin" : level >= 50 ? "moderator" : level >= 10 ? "speaker" : "attendee";
  return level >= 50 ? "admin" : "member";
}

interface PendingInvite {
  readonly roomId: string;
  readonly local: string;
  readonly ghost: string;
  readonly eventId: string;
}

interface ConsentDm {
  readonly roomId: string;
  readonly local: string;
  readonly ghost: string;
}

/** A tombstoned portal room whose replacement the bot has not joined yet (store `upgpending/<new room>`). */
interface PendingUpgrade {
  readonly platformRoom: string;
  readonly from: string;
}

const BACKOFF_MAX_MS = 30_000;
/** Ghosts remembered as having their display name set (#ghostReady); beyond this the least recently used are forgotten (read from the store again). */
const GHOST_PROFILE_CACHE_MAX = 4096;
/** Rooms whose m.room.create predecessor is remembered (#predecessorOf); beyond this the oldest are forgotten (read again). */
const PREDECESSOR_CACHE_MAX = 4096;

export class MatrixAdapter
  implements
    Adapter<MatrixConfig>,
    EditHandlingAdapter,
    RetractionHandlingAdapter,
    ReactionHandlingAdapter,
    RoomMetadataHandlingAdapter,
    ConsentPromptingAdapter,
    TypingHandlingAdapter,
    ReceiptHandlingAdapter,
    HealthReportingAdapter,
    TransactionSink
{
  readonly info = { id: adapterId("matrix"), displayName: "Matrix (application service)", version: MATRIX_ADAPTER_VERSION };
  readonly configSchema = MatrixConfigSchema;

  #ctx: AdapterContext<MatrixConfig> | undefined;
  #config: MatrixConfig | undefined;
  #ids: MatrixIds | undefined;
  #hs: Homeserver | undefined;
  #server: TransactionServer | undefined;
  #status: AdapterStatus = { state: "stopped", since: Date.now() };
  #started = false;
  #stopping = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** Creator of an alias portal (platformRoomFor of a direct room: the ghost), before the room exists. */
  readonly #creators = new Map<string, string>();
  /** The local user of a direct alias portal (platformRoomFor), to find an earlier consent DM with the ghost. */
  readonly #directLocals = new Map<string, string>();
  /** Alias → Matrix room ID (also in the store). */
  readonly #aliasRooms = new Map<string, string>();
  /** Serialises the creation of each alias portal. */
  readonly #creating = new Map<string, Promise<string>>();
  /** Serialises deliveries per Matrix room. */
  readonly #serials = new KeyedSerial();
  /** A "!room" portal's current Matrix room after upgrades (store `cur/<platform room>`). */
  readonly #current = new Map<string, string>();
  /** Matrix rooms replaced by an upgrade (store `old/<room id>` → platform room). */
  readonly #superseded = new Set<string>();
  /** m.room.create `predecessor.room_id` of rooms looked at as upgrade replacements (null: none); immutable, so cached (bounded, oldest dropped). */
  readonly #predecessors = new Map<string, string | null>();
  readonly #metrics = new MatrixMetrics();
  /** Ghosts whose `profile/<ghost>` marker is known to be set, least recently used first (an LRU over Set insertion order). */
  readonly #profiled = new Set<string>();
  #metricsServer: MetricsServer | undefined;
  #metricsUrl: string | undefined;
  #ephemeral: EphemeralMapper | undefined;

  // ---- lifecycle -------------------------------------------------------------------------------------

  init(ctx: AdapterContext<MatrixConfig>): void {
    this.#ctx = ctx;
    // Defaults, the registration file (placeholders refused) and its match with this section.
    const c = resolveMatrixConfig(ctx.config);
    this.#config = c;
    const ids = new MatrixIds({ domain: c.domain, provider: ctx.core.domain, ghostPrefix: c.ghostPrefix, botLocalpart: c.botLocalpart });
    this.#ids = ids;
    this.#ephemeral = new EphemeralMapper((u) => ids.isLocal(u));
    ctx.signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  #need(): { ctx: AdapterContext<MatrixConfig>; config: MatrixConfig; ids: MatrixIds; hs: Homeserver } {
    const [ctx, config, ids, hs] = [this.#ctx, this.#config, this.#ids, this.#hs];
    if (ctx === undefined || config === undefined || ids === undefined || hs === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "the Matrix adapter was used before start()");
    return { ctx, config, ids, hs };
  }

  #report(state: AdapterStatus["state"], message?: string): void {
    this.#status = message === undefined ? { state, since: Date.now() } : { state, message, since: Date.now() };
    this.#metrics.connected.set(state === "connected" ? 1 : 0);
    this.#ctx?.core.reportStatus(state, message);
  }

  async start(): Promise<void> {
    const ctx = this.#ctx;
    const c = this.#config;
    if (ctx === undefined || c === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "start() before init()");
    if (this.#started) return;
    this.#started = true;
    this.#stopping = false;
    this.#report("starting");
    const r = c.registration;
    const registration: RegistrationData = {
      id: r.id,
      url: r.url,
      asToken: r.as_token,
      hsToken: r.hs_token,
      senderLocalpart: r.sender_localpart,
      userRegexes: r.namespaces.users ?? [],
      aliasRegexes: r.namespaces.aliases ?? [],
    };
    const metrics = this.#metrics;
    const hs = new Homeserver({ homeserverUrl: c.homeserverUrl, domain: c.domain, registration, log: ctx.log, onCreated: (type) => metrics.eventsOut.inc({ type: typeLabel(type) }) });
    await hs.initialise();
    this.#hs = hs;
    for (const row of await ctx.store.list<string>("alias/")) this.#aliasRooms.set(row.key.slice("alias/".length), row.value);
    for (const row of await ctx.store.list<string>("creator/")) this.#creators.set(row.key.slice("creator/".length), row.value);
    for (const row of await ctx.store.list<string>("cur/")) this.#current.set(row.key.slice("cur/".length), row.value);
    for (const row of await ctx.store.list<string>("old/")) this.#superseded.add(row.key.slice("old/".length));
    const userNamespace = ghostNamespace(c);
    const server = new TransactionServer({
      hsToken: registration.hsToken,
      host: c.listen.host,
      port: c.listen.port,
      store: ctx.store,
      log: ctx.log,
      sink: this,
      maxTransactionBytes: c.limits.maxTransactionBytes,
      staleEventMaxAgeMs: c.staleEventMaxAgeMs,
      userNamespace,
      onHandled: (kind, _type, ms) => metrics.transactionLatency.observe({ kind }, ms / 1000),
    });
    this.#server = server;
    metrics.attach({ queueDepth: () => server.stats().queueDepth, inFlight: () => server.stats().inFlight, retryingRooms: () => server.stats().retryingRooms });
    // The metrics listener first: once the transaction server listens the homeserver starts
    // pushing transactions, so it must be the last step that can fail. If a listen fails,
    // whatever started is closed again, so start() either fully starts or leaves nothing
    // listening (and may be called again).
    try {
      if (c.metrics !== undefined) {
        const ms = new MetricsServer({ metrics, log: ctx.log, health: () => ({ ok: this.#status.state === "connected", state: this.#status.state }) });
        this.#metricsUrl = (await ms.start(c.metrics.listen.host, c.metrics.listen.port)).url;
        this.#metricsServer = ms;
      }
      await server.start();
    } catch (err) {
      await server.stop().catch(() => undefined); // stored entries may already be in flight
      await this.#metricsServer?.stop();
      this.#metricsServer = undefined;
      this.#metricsUrl = undefined;
      this.#server = undefined;
      await hs.close().catch(() => undefined);
      this.#started = false;
      this.#report("unknown_error", errText(err));
      throw err;
    }
    // Connected once the homeserver answers whoami for the bot (retried with backoff).
    await this.#checkConnection(1000);
  }

  async #checkConnection(delay: number): Promise<void> {
    if (this.#stopping) return;
    const { hs, ctx } = this.#need();
    try {
      const me = await hs.whoami();
      if (me !== hs.botUserId) ctx.log.warn({ me }, "matrix: whoami names another user than the bot");
      await hs.setDisplayName(hs.botUserId, "MIMI bridge").catch(() => undefined);
      this.#report("connected");
    } catch (err) {
      const code = errcodeOf(err);
      this.#metrics.error(code ?? "M_UNREACHABLE");
      if (code === "M_UNKNOWN_TOKEN" || code === "M_FORBIDDEN") this.#report("bad_credentials", `the homeserver refused the as_token: ${errText(err)}`);
      else this.#report("transient_disconnect", `the homeserver is unreachable: ${errText(err)}`);
      ctx.log.warn({ err: errText(err), retryInMs: delay }, "matrix: whoami failed");
      this.#retryTimer = setTimeout(() => void this.#checkConnection(Math.min(delay * 2, BACKOFF_MAX_MS)), delay);
      this.#retryTimer.unref();
    }
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    this.#stopping = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#server?.stop().catch((err: unknown) => this.#ctx?.log.warn({ err: errText(err) }, "matrix: stopping the transaction server failed"));
    await this.#metricsServer?.stop();
    this.#metricsServer = undefined;
    this.#metricsUrl = undefined;
    await this.#hs?.close();
    this.#report("stopped");
  }

  /** Waits until every transaction received so far was handled (tests). */
  async idle(): Promise<void> {
    await this.#server?.idle();
    await this.#serials.idle();
  }

  /** The homeserver calls as the bot and the ghosts (after start; tests and admin tooling). */
  get homeserver(): Homeserver {
    return this.#need().hs;
  }

  health(): AdapterStatus {
    return this.#status;
  }

  /** The metrics endpoint's base URL while it listens (`metrics.listen` configured), e.g. for tests. */
  get metricsUrl(): string | undefined {
    return this.#metricsUrl;
  }

  capabilities(): AdapterCapabilities {
    return {
      edits: true,
      replies: true,
      reactions: true,
      retractions: true,
      typing: true,
      readReceipts: true,
      roomMetadata: true,
      consentPrompts: true,
      identifierResolution: true,
      maxMessageBytes: this.#config?.limits.maxBodyBytes ?? 65536,
    };
  }

  // ---- identity (pure) ----------------------------------------------------------------------------------

  toMimiUri(user: PlatformUserId): string | undefined {
    return this.#ids?.toMimiUri(user);
  }

  localUserFor(mimiUri: string): PlatformUserId | undefined {
    return this.#ids?.localUserFor(mimiUri);
  }

  ghostFor(mimiUri: string): PlatformUserId {
    const ids = this.#ids;
    if (ids === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "ghostFor() before init()");
    return ids.ghostFor(mimiUri);
  }

  parseGhost(user: PlatformUserId): string | undefined {
    return this.#ids?.parseGhost(user);
  }

  /**
   * UserDirectoryAdapter: whether the homeserver has this local user (so a MIMI user can reach a
   * Matrix user who never used the bridge). Only users of the homeserver's domain that are not
   * ghosts or the bot; the homeserver answers (Intents.userExists).
   */
  async platformUserExists(user: PlatformUserId): Promise<boolean> {
    const { ids, hs } = this.#need();
    if (!ids.isLocal(user)) return false;
    return hs.userExists(user);
  }

  platformRoomFor(room: { readonly roomId: string; readonly kind: RoomKindName; readonly localUsers: readonly PlatformUserId[]; readonly remoteUsers: readonly string[] }): PlatformRoomId {
    const ids = this.#ids;
    if (ids === undefined) throw new MimiError("MIMI_ERR_INTERNAL", "platformRoomFor() before init()");
    const alias = ids.portalAlias(room.roomId);
    const [remote] = room.remoteUsers;
    // A direct room is a DM created by the peer's ghost; other rooms are created by the bot.
    if (room.kind === "direct" && remote !== undefined) {
      this.#creators.set(alias, ids.ghostFor(remote));
      const [local] = room.localUsers;
      if (local !== undefined) this.#directLocals.set(alias, local);
    }
    return platformRoomId(alias);
  }

  // ---- rooms on the homeserver ----------------------------------------------------------------------------

  /** The Matrix room ID of a platform room, if the room exists. */
  async #matrixRoomOf(platformRoom: string): Promise<string | undefined> {
    if (platformRoom.startsWith("!")) return this.#current.get(platformRoom) ?? platformRoom;
    const known = this.#aliasRooms.get(platformRoom);
    if (known !== undefined) return known;
    const { hs } = this.#need();
    const resolved = await hs.resolveAlias(platformRoom);
    if (resolved !== undefined) await this.#rememberAlias(platformRoom, resolved);
    return resolved;
  }

  async #rememberAlias(alias: string, roomId: string): Promise<void> {
    const { ctx } = this.#need();
    this.#aliasRooms.set(alias, roomId);
    await ctx.store.put(`alias/${alias}`, roomId);
    await ctx.store.put(`rid/${roomId}`, alias);
  }

  /** The Matrix room of a portal, created on first use for an alias portal. */
  async #ensureRoom(platformRoom: string, hint?: { creator?: string; kind?: RoomKindName }): Promise<string> {
    const existing = await this.#matrixRoomOf(platformRoom);
    if (existing !== undefined) return existing;
    let p = this.#creating.get(platformRoom);
    if (p === undefined) {
      p = this.#createRoom(platformRoom, hint).finally(() => this.#creating.delete(platformRoom));
      this.#creating.set(platformRoom, p);
    }
    return p;
  }

  async #createRoom(alias: string, hint?: { creator?: string; kind?: RoomKindName }): Promise<string> {
    const { hs, ctx } = this.#need();
    const portal = await ctx.core.portals.byPlatformRoom(platformRoomId(alias));
    const kind = hint?.kind ?? portal?.kind ?? "group";
    const creator = hint?.creator ?? this.#creators.get(alias) ?? hs.botUserId;
    await ctx.store.put(`creator/${alias}`, creator);
    this.#creators.set(alias, creator);
    const direct = kind === "direct" && creator !== hs.botUserId;
    if (direct) {
      // The ghost already has a DM with this user: the one it opened for the MIMI consent request
      // and the user joined (which granted consent). The direct room goes there, so the user has
      // one DM with the ghost, not two (leaving it still revokes consent, and leaves the room).
      const local = this.#directLocals.get(alias);
      const dm = local === undefined ? undefined : await ctx.store.get<string>(`dmreq-by/${local}/${creator}`);
      if (local !== undefined && dm !== undefined && (await hs.membership(dm, local, creator).catch(() => undefined)) === "join") {
        // The portal's alias names the DM on the homeserver too, as it names every portal room.
        await hs.createAlias(alias, dm);
        await this.#rememberAlias(alias, dm);
        ctx.log.info({ alias, roomId: dm }, "matrix: a MIMI direct room uses the consent DM of its two users");
        return dm;
      }
    }
    const options: Record<string, unknown> = {
      room_alias_name: MatrixIds.aliasLocalpart(alias),
      preset: direct ? "trusted_private_chat" : "private_chat",
      visibility: "private",
      ...(direct ? { is_direct: true } : {}),
      // Room version 12 (Synapse's default since 1.136, MSC4289): creators have unlimited power and
      // must NOT appear in `users`; the bot gets 100 when a ghost creates the room.
      ...(creator === hs.botUserId ? {} : { power_level_content_override: { users: { [hs.botUserId]: 100 } } }),
      creation_content: { "m.federate": true },
    };
    const roomId = await hs.createRoom(creator, options);
    await this.#rememberAlias(alias, roomId);
    ctx.log.info({ alias, roomId, creator, kind }, "matrix: created a portal room for a MIMI room");
    return roomId;
  }

  /** Who acts for the bridge in a room: the bot if it is in the room, else the room's creator ghost. */
  async #actor(platformRoom: string, roomId: string): Promise<string> {
    const { hs } = this.#need();
    const creator = this.#creators.get(platformRoom);
    if (creator !== undefined && creator !== hs.botUserId) {
      const bot = await hs.membership(roomId, hs.botUserId, creator).catch(() => undefined);
      if (bot !== "join") return creator;
    }
    return hs.botUserId;
  }

  #serial<T>(key: string, task: () => Promise<T>): Promise<T> {
    // Delivery latency: from the core handing the event over to the homeserver's last 200.
    const end = this.#metrics.deliveryLatency.startTimer({ kind: "mimi" });
    return this.#serials.run(key, task).then(
      (v) => {
        end();
        return v;
      },
      (err: unknown) => {
        this.#metrics.error(errcodeOf(err) ?? (err instanceof MimiError ? err.code : "MIMI_ERR_INTERNAL"));
        throw err;
      },
    );
  }

  async #ghostReady(ghost: string, mimiUri: string | undefined): Promise<void> {
    const { hs, ctx } = this.#need();
    await hs.ensureRegistered(ghost);
    if (mimiUri === undefined) return;
    // Runs for every MIMI message delivered: the marker is cached in memory so the hot path does
    // not read the store each time (the marker is only ever set, so a cached "set" never goes stale).
    if (this.#profiled.delete(ghost)) {
      this.#profiled.add(ghost);
      return;
    }
    const k = `profile/${ghost}`;
    if ((await ctx.store.get<boolean>(k)) !== true) {
      await hs.setDisplayName(ghost, MatrixIds.label(mimiUri)).catch((err: unknown) => ctx.log.debug({ err: errText(err) }, "matrix: setting a ghost's display name failed"));
      await ctx.store.put(k, true);
    }
    this.#profiled.add(ghost);
    if (this.#profiled.size > GHOST_PROFILE_CACHE_MAX) {
      const oldest = this.#profiled.values().next();
      if (oldest.done !== true) this.#profiled.delete(oldest.value);
    }
  }

  /** The sender of a delivery joined to the room (ghosts join on demand). */
  async #senderIn(platformRoom: string, roomId: string, sender: { platformUser: string; mimiUri: string; local: boolean }): Promise<string> {
    const { hs } = this.#need();
    if (sender.local) return sender.platformUser; // never: the core does not deliver local users' own messages
    await this.#ghostReady(sender.platformUser, sender.mimiUri);
    await hs.join(sender.platformUser, roomId);
    void platformRoom;
    return sender.platformUser;
  }

  // ---- MIMI → Matrix ---------------------------------------------------------------------------------------

  async handleMimiMessage(message: MimiMessage): Promise<DeliveryResult> {
    return this.#serial(message.room, async () => {
      const { hs } = this.#need();
      const roomId = await this.#ensureRoom(message.room);
      const sender = await this.#senderIn(message.room, roomId, message.sender);
      const content = messageContent(message, this.#mapping());
      const eventId = await hs.send(sender, roomId, "m.room.message", content, txnIdFor(message.messageId, "message"));
      return { platformEventId: platformEventId(eventId) };
    });
  }

  async handleMimiEdit(edit: MimiEdit): Promise<DeliveryResult> {
    return this.#serial(edit.room, async () => {
      const { hs } = this.#need();
      const roomId = await this.#ensureRoom(edit.room);
      const sender = await this.#senderIn(edit.room, roomId, edit.sender);
      let content = editContent(edit, this.#mapping());
      if ((await this.#roomHolding(edit.room, roomId, edit.target)) !== roomId) {
        // The message is in a room replaced by an upgrade, which Synapse made read-only (events_default
        // 50) and where an m.replace from another room would not apply: the new room shows the edit's
        // fallback text ("* …", CS-API "Event replacements") as a message of its own.
        const { ["m.relates_to"]: _relation, ["m.new_content"]: _replacement, ...fallback } = content;
        content = fallback;
      }
      const eventId = await hs.send(sender, roomId, "m.room.message", content, txnIdFor(edit.messageId, "edit"));
      return { platformEventId: platformEventId(eventId) };
    });
  }

  async handleMimiRetraction(retraction: MimiRetraction): Promise<void> {
    await this.#serial(retraction.room, async () => {
      const { hs } = this.#need();
      const roomId = await this.#roomHolding(retraction.room, await this.#ensureRoom(retraction.room), retraction.target);
      const sender = await this.#senderIn(retraction.room, roomId, retraction.sender);
      const txn = txnIdFor(retraction.messageId, "redact");
      try {
        await hs.redact(sender, roomId, retraction.target, txn);
      } catch (err) {
        if (errcodeOf(err) !== "M_FORBIDDEN") throw err;
        // A moderator's retraction of someone else's message: the bridge redacts it.
        await hs.redact(await this.#actor(retraction.room, roomId), roomId, retraction.target, txn, `retracted in MIMI by ${retraction.sender.mimiUri}`);
      }
    });
  }

  async handleMimiReaction(reaction: MimiReaction): Promise<DeliveryResult> {
    return this.#serial(reaction.room, async () => {
      const { hs, ctx } = this.#need();
      const roomId = await this.#ensureRoom(reaction.room);
      const sender = await this.#senderIn(reaction.room, roomId, reaction.sender);
      const eventId = await hs.send(sender, roomId, "m.reaction", reactionContent(reaction.target, reaction.reaction), txnIdFor(reaction.messageId, "reaction"));
      await ctx.store.put(reactionKey(reaction.room, sender, reaction.target, reaction.reaction), eventId);
      return { platformEventId: platformEventId(eventId) };
    });
  }

  async handleMimiReactionRemove(reaction: MimiReaction): Promise<void> {
    await this.#serial(reaction.room, async () => {
      const { hs, ctx } = this.#need();
      const sender = reaction.sender.platformUser;
      const k = reactionKey(reaction.room, sender, reaction.target, reaction.reaction);
      const eventId = await ctx.store.get<string>(k);
      if (eventId === undefined) return;
      // A reaction sent before a room upgrade is in the old room: Synapse redacts an event only in
      // its own room ("Cannot redact event from a different room").
      const roomId = await this.#roomHolding(reaction.room, await this.#ensureRoom(reaction.room), eventId);
      const txn = txnIdFor(reaction.messageId, "unreact");
      try {
        await hs.redact(sender, roomId, eventId, txn);
      } catch (err) {
        if (errcodeOf(err) !== "M_FORBIDDEN") throw err;
        // The old room is read-only after the upgrade (Synapse raises events_default to 50 there), so
        // the ghost may not send the redaction: the bridge does, as for retractions.
        await hs.redact(await this.#actor(reaction.room, roomId), roomId, eventId, txn, `reaction removed in MIMI by ${reaction.sender.mimiUri}`);
      }
      await ctx.store.del(k);
    });
  }

  async handleMimiRoomMetadata(metadata: MimiRoomMetadata): Promise<void> {
    await this.#serial(metadata.room, async () => {
      const { hs } = this.#need();
      const roomId = await this.#ensureRoom(metadata.room);
      const actor = await this.#actor(metadata.room, roomId);
      // Only what changed (a missing state event counts as ""): no empty topic on a fresh room, and
      // no state event answering our own echo.
      if (metadata.name !== undefined && metadata.name !== textOf((await hs.state(actor, roomId, "m.room.name", ""))?.name)) {
        await hs.setState(actor, roomId, "m.room.name", "", { name: metadata.name });
      }
      if (metadata.subject !== undefined && metadata.subject !== textOf((await hs.state(actor, roomId, "m.room.topic", ""))?.topic)) {
        await hs.setState(actor, roomId, "m.room.topic", "", { topic: metadata.subject });
      }
      if (metadata.avatar !== undefined) {
        const { config, ctx } = this.#need();
        const a = avatarToMatrix(metadata.avatar, config.homeserverUrl);
        if ("ignored" in a) ctx.log.info({ roomId: metadata.roomId, reason: a.ignored }, "matrix: MIMI room avatar not shown");
        else if (textOf(a.content.url) !== textOf((await hs.state(actor, roomId, "m.room.avatar", ""))?.url)) await hs.setState(actor, roomId, "m.room.avatar", "", a.content);
      }
    });
  }

  async handleMimiTyping(typing: MimiTyping): Promise<void> {
    const { hs } = this.#need();
    if (typing.sender.local) return;
    const roomId = await this.#matrixRoomOf(typing.room);
    if (roomId === undefined) return;
    await hs.setTyping(typing.sender.platformUser, roomId, typing.active);
  }

  async handleMimiReadReceipt(receipt: MimiReadReceipt): Promise<void> {
    const { hs } = this.#need();
    if (receipt.sender.local) return;
    const roomId = await this.#matrixRoomOf(receipt.room);
    if (roomId === undefined) return;
    await hs.readReceipt(receipt.sender.platformUser, roomId, receipt.target);
  }

  async handleMimiParticipantChange(change: MimiParticipantChange): Promise<void> {
    await this.#serial(change.room, async () => {
      const { hs, ids, ctx } = this.#need();
      const local = ids.isLocal(change.platformUser);
      const roomId = await this.#ensureRoom(change.room);
      const actor = await this.#actor(change.room, roomId);
      const user = change.platformUser;
      switch (change.change) {
        case "added": {
          if (local) {
            const portal = await ctx.core.portals.byPlatformRoom(platformRoomId(change.room));
            const direct = portal?.kind === "direct" && actor !== hs.botUserId;
            const m = await hs.membership(roomId, user, actor);
            if (m !== "join" && m !== "invite") {
              if (m === "ban") await hs.unban(actor, roomId, user);
              await hs.invite(actor, roomId, user, { isDirect: direct });
            }
            if (direct) await hs.markDirect(actor, user, roomId).catch(() => undefined);
          } else {
            await this.#ghostReady(user, change.user);
            if (actor !== user) {
              const m = await hs.membership(roomId, user, actor);
              if (m === "ban") await hs.unban(actor, roomId, user);
            }
            await hs.join(user, roomId);
          }
          await this.#applyRole(roomId, actor, user, change.role);
          return;
        }
        case "removed":
        case "left": {
          const m = await hs.membership(roomId, user, actor);
          if (m !== "join" && m !== "invite") return;
          if (local) await hs.kick(actor, roomId, user, change.change === "removed" ? `removed in MIMI${change.by === undefined ? "" : ` by ${change.by}`}` : "left in MIMI");
          else await hs.leave(user, roomId);
          return;
        }
        case "banned": {
          const m = await hs.membership(roomId, user, actor);
          if (m === "ban") return;
          await hs.ban(actor, roomId, user, `banned in MIMI${change.by === undefined ? "" : ` by ${change.by}`}`);
          return;
        }
        case "role":
          await this.#applyRole(roomId, actor, user, change.role);
          return;
      }
    });
  }

  async #applyRole(roomId: string, actor: string, user: string, role: string | undefined): Promise<void> {
    const { hs, ctx } = this.#need();
    const level = powerLevelOfRole(role);
    if (level === undefined) return;
    const pl = await hs.state(actor, roomId, "m.room.power_levels", "");
    const users = (pl?.users as Record<string, number> | undefined) ?? {};
    const current = users[user] ?? (typeof pl?.users_default === "number" ? pl.users_default : 0);
    if (current === level) return;
    if (user === actor) return; // never demote the bridge's own actor
    if ((await hs.creators(roomId)).includes(user)) return; // v12 creators are not in `users`
    await hs.setPowerLevel(actor, roomId, user, level).catch((err: unknown) => ctx.log.info({ err: errText(err), user, role }, "matrix: setting a power level failed"));
  }

  // ---- consent (MIMI-MATRIX-03) -----------------------------------------------------------------------------

  async handleMimiConsentRequest(request: MimiConsentRequest): Promise<void> {
    const { hs, ctx } = this.#need();
    const ghost = request.requesterGhost;
    const k = `dmreq-by/${request.target}/${ghost}`;
    if ((await ctx.store.get<string>(k)) !== undefined) return;
    await this.#ghostReady(ghost, request.requester);
    // The ghost opens a DM (m.direct): accepting the invite grants consent, rejecting revokes it.
    const roomId = await hs.createRoom(ghost, { preset: "trusted_private_chat", is_direct: true, invite: [request.target], visibility: "private" });
    await ctx.store.put(`dmreq/${roomId}`, { roomId, local: request.target, ghost } satisfies ConsentDm);
    await ctx.store.put(k, roomId);
    await hs.markDirect(ghost, request.target, roomId).catch(() => undefined);
    await hs.send(
      ghost,
      roomId,
      "m.room.message",
      { msgtype: "m.notice", body: `${request.requester} would like to contact you through MIMI${request.roomId === undefined ? "" : ` (room ${request.roomId})`}. Join this room to accept; reject the invite to refuse.` },
      `consent-${sha256Hex(`${request.requester}\n${request.target}\n${request.roomId ?? ""}`).slice(0, 24)}`,
    );
  }

  async handleMimiConsentChange(change: MimiConsentChange): Promise<void> {
    const { ctx } = this.#need();
    if (change.change !== "granted") return;
    // Invites a local user sent to this ghost before consent held become direct rooms now.
    for (const row of await ctx.store.list<PendingInvite>(`pinv/${change.target}/${change.peerGhost}/`)) {
      const res = await this.#openDirect(row.value, `grant-${Date.now()}`);
      if (res.status === "rejected") ctx.log.info({ code: res.code }, "matrix: the direct room could not be opened after the grant");
      await ctx.store.del(row.key);
    }
  }

  /** A local user's DM with a ghost becomes a portal of a new MIMI direct room; the ghost joins. */
  async #openDirect(inv: PendingInvite, attempt: string): Promise<SubmitResult> {
    const { hs, ids } = this.#need();
    const peer = ids.parseGhost(inv.ghost);
    if (peer === undefined) return { status: "ignored", reason: "not a ghost" };
    const res = await this.#submit({
      type: "room.create",
      // A refusal is the recorded answer to its event ID: the attempt after a grant has its own.
      platformEventId: platformEventId(`create:${attempt}:${inv.eventId}`),
      sender: platformUserId(inv.local),
      room: platformRoomId(inv.roomId),
      kind: "direct",
      invite: [peer],
      timestamp: Date.now(),
    });
    if (res.status === "accepted") {
      await this.#ghostReady(inv.ghost, peer);
      await hs.join(inv.ghost, inv.roomId);
      await hs.markDirect(inv.ghost, inv.local, inv.roomId).catch(() => undefined);
    }
    return res;
  }

  // ---- Matrix → MIMI (TransactionSink) ----------------------------------------------------------------------

  async onUserQuery(userId: string): Promise<boolean> {
    const { hs, ids } = this.#need();
    const uri = ids.parseGhost(userId);
    if (uri === undefined) return false;
    await this.#ghostReady(userId, uri);
    void hs;
    return true;
  }

  async onEphemeral(event: MatrixEphemeral): Promise<void> {
    const { ctx } = this.#need();
    this.#metrics.eventsIn.inc({ type: typeLabel(event.type) });
    if (event.room_id === undefined) return;
    const platformRoom = await this.#platformRoomOfMatrix(event.room_id);
    if (platformRoom === undefined) return;
    const mapper = this.#ephemeral;
    if (mapper === undefined) return;
    // content.ts does the mapping (m.typing sets → on/off per local user; m.receipt → read markers).
    // The core answers typing with `ignored` (MIMI has no typing indicator): counted, not an error.
    const { events, problems } = mapper.map(event, platformRoomId(platformRoom));
    if (problems.length > 0) ctx.log.debug({ problems: problems.slice(0, 3), type: event.type }, "matrix: ephemeral event refused by the mapping");
    for (const e of events) {
      const res = await this.#submit(e);
      if (res.status === "rejected") ctx.log.debug({ code: res.code, type: e.type }, "matrix: the core refused an ephemeral event");
    }
  }

  async #platformRoomOfMatrix(roomId: string): Promise<string | undefined> {
    const portal = await this.#portalOfMatrix(roomId);
    if (portal !== undefined) return portal;
    // MIMI-MATRIX-08: the replacement of an upgraded portal before the portal moves there. Its events
    // are handed over in their own lane (appservice.ts), possibly before the tombstone's lane has
    // finished the move (#completeUpgrade waits behind queued MIMI deliveries): they belong to the
    // portal already, once the room is shown to be the real replacement (#replacementOf).
    return (await this.#replacementOf(roomId))?.platformRoom;
  }

  /** The portal a Matrix room carries (its own room ID, or an alias portal's `rid/`), without upgrades in progress. */
  async #portalOfMatrix(roomId: string): Promise<string | undefined> {
    const { ctx } = this.#need();
    const direct = await ctx.core.portals.byPlatformRoom(platformRoomId(roomId));
    if (direct !== undefined) return roomId;
    const alias = await ctx.store.get<string>(`rid/${roomId}`);
    if (alias === undefined) return undefined;
    return (await ctx.core.portals.byPlatformRoom(platformRoomId(alias))) === undefined ? undefined : alias;
  }

  /**
   * `retry: false` for bot commands: a user waiting for the bot's answer gets "try again later"
   * (the rejection) rather than a command that silently keeps retrying.
   */
  async #submit(event: PlatformEvent, o: { readonly retry?: boolean } = {}): Promise<SubmitResult> {
    const { ctx } = this.#need();
    let res: SubmitResult;
    try {
      res = await ctx.core.submit(event);
    } catch (err) {
      ctx.log.warn({ err: errText(err), type: event.type }, "matrix: core.submit failed");
      res = { status: "rejected", code: err instanceof MimiError ? err.code : "MIMI_ERR_INTERNAL", message: err instanceof MimiError ? err.message : "internal error" };
    }
    this.#metrics.submitted.inc({ type: event.type, status: res.status });
    if (res.status === "rejected") this.#metrics.error(res.code);
    // The core could not act now: the event stays in the transaction queue, which tries again
    // (appservice.ts: a retryable failure never turns the event into poison).
    if (res.status === "rejected" && res.retryable === true && o.retry !== false) {
      throw new MimiError("MIMI_ERR_BRIDGE_CORE_UNAVAILABLE", `the core could not handle the event now: ${res.code}`, { details: { retryable: true, code: res.code } });
    }
    return res;
  }

  /** A notice from the bot (or the room's creator ghost) about a refused event. */
  async #notice(roomId: string, platformRoom: string | undefined, eventId: string, text: string): Promise<void> {
    const { hs, ctx } = this.#need();
    const actor = platformRoom === undefined ? hs.botUserId : await this.#actor(platformRoom, roomId);
    await hs
      .send(actor, roomId, "m.room.message", { msgtype: "m.notice", body: text }, `notice-${sha256Hex(eventId).slice(0, 24)}`)
      .catch((err: unknown) => ctx.log.info({ err: errText(err), roomId }, "matrix: could not send a notice"));
  }

  async onEvent(ev: MatrixEvent): Promise<void> {
    const { hs, ids, ctx } = this.#need();
    this.#metrics.eventsIn.inc({ type: typeLabel(ev.type) });
    // Echoes of what the bridge did itself.
    if (ev.sender === hs.botUserId || ids.isGhost(ev.sender)) return;
    // A room upgrade moves the portal whoever ran it (the homeserver checked their power).
    if (ev.type === "m.room.tombstone") return this.#onTombstone(ev);
    if (!ids.isLocal(ev.sender)) {
      ctx.log.debug({ sender: ev.sender, type: ev.type }, "matrix: event of a user the bridge does not serve");
      return;
    }
    if (ev.type === "m.room.member") return this.#onMember(ev);
    const platformRoom = await this.#platformRoomOfMatrix(ev.room_id);
    if (ev.type === "m.room.message" && typeof ev.content.body === "string" && ev.content.body.trimStart().startsWith("!mimi")) {
      return this.#command(ev, platformRoom);
    }
    if (platformRoom === undefined) return;
    if (ev.type === "m.room.power_levels") return this.#onPowerLevels(ev, platformRoom);
    const { events, problems, ignored } = inboundEvents(ev, platformRoomId(platformRoom), this.#mapping());
    if (ignored !== undefined && events.length === 0) ctx.log.info({ type: ev.type, reason: ignored }, "matrix: event not carried to MIMI");
    if (problems.length > 0) {
      ctx.log.info({ problems: problems.slice(0, 3), type: ev.type }, "matrix: event refused by the mapping");
      if (ev.type === "m.room.message") await this.#notice(ev.room_id, platformRoom, ev.event_id, `Not delivered to MIMI: ${problems[0] ?? "malformed event"}`);
      return;
    }
    for (const e0 of events) {
      let e = e0;
      // A redaction of a reaction event is the reaction's removal.
      if (e.type === "message.retract") {
        const r = await ctx.store.get<{ target: string; key: string }>(`inreact/${e.target}`);
        if (r !== undefined) e = { type: "reaction.remove", platformEventId: e.platformEventId, sender: e.sender, room: e.room, target: platformEventId(r.target), reaction: r.key, ...(e.timestamp === undefined ? {} : { timestamp: e.timestamp }) };
      }
      const res = await this.#submit(e);
      if (res.status === "accepted" && e.type === "reaction.add") await ctx.store.put(`inreact/${e.platformEventId}`, { target: e.target, key: e.reaction });
      if (res.status === "rejected") {
        ctx.log.info({ code: res.code, type: e.type }, "matrix: the core refused an event");
        if (e.type === "message" || e.type === "message.edit" || e.type === "reaction.add") await this.#notice(ev.room_id, platformRoom, ev.event_id, `Not delivered to MIMI: ${res.message} (${res.code})`);
      }
    }
  }

  #mapping(): MappingContext {
    const { config, ids } = this.#need();
    return {
      homeserverUrl: config.homeserverUrl,
      maxBodyBytes: config.limits.maxBodyBytes,
      mimiUserOf: (mxid) => ids.parseGhost(mxid) ?? ids.toMimiUri(mxid),
      matrixIdOf: (uri) => {
        try {
          return ids.localUserFor(uri) ?? ids.ghostFor(uri);
        } catch {
          return undefined;
        }
      },
    };
  }

  async #onPowerLevels(ev: MatrixEvent, platformRoom: string): Promise<void> {
    const { ids, ctx } = this.#need();
    const portal = await ctx.core.portals.byPlatformRoom(platformRoomId(platformRoom));
    const kind = portal?.kind ?? "group";
    const before: Record<string, number> = (ev.unsigned?.prev_content as { users?: Record<string, number> } | undefined)?.users ?? {};
    const after: Record<string, number> = (ev.content.users as Record<string, number> | undefined) ?? {};
    const def = typeof ev.content.users_default === "number" ? ev.content.users_default : 0;
    for (const user of new Set([...Object.keys(before), ...Object.keys(after)])) {
      const a = before[user] ?? def;
      const b = after[user] ?? def;
      if (a === b || !(ids.isGhost(user) || ids.isLocal(user))) continue;
      const role = roleOfPowerLevel(b, kind);
      if (role === roleOfPowerLevel(a, kind)) continue;
      const res = await this.#submit({ type: "room.membership", platformEventId: platformEventId(`${ev.event_id}:${user}`), sender: platformUserId(ev.sender), room: platformRoomId(platformRoom), action: "role", target: platformUserId(user), role });
      if (res.status === "rejected") ctx.log.info({ code: res.code, user, role }, "matrix: the core refused a role change");
    }
  }

  async #onMember(ev: MatrixEvent): Promise<void> {
    const { hs, ids, ctx } = this.#need();
    const target = ev.state_key ?? "";
    const membership = typeof ev.content.membership === "string" ? ev.content.membership : "";
    const prev = (ev.unsigned?.prev_content as { membership?: string } | undefined)?.membership;
    const platformRoom = await this.#platformRoomOfMatrix(ev.room_id);
    const submitMembership = async (action: "invite" | "join" | "leave" | "kick" | "ban" | "unban", reason?: string) => {
      if (platformRoom === undefined) return;
      const res = await this.#submit({
        type: "room.membership",
        platformEventId: platformEventId(ev.event_id),
        sender: platformUserId(ev.sender),
        room: platformRoomId(platformRoom),
        action,
        target: platformUserId(target),
        ...(reason === undefined ? {} : { reason }),
        timestamp: ev.origin_server_ts,
      });
      if (res.status === "rejected") {
        ctx.log.info({ code: res.code, action }, "matrix: the core refused a membership change");
        await this.#notice(ev.room_id, platformRoom, ev.event_id, `MIMI refused the ${action} of ${target}: ${res.message} (${res.code})`);
      }
      return res;
    };
    const reason = typeof ev.content.reason === "string" ? ev.content.reason : undefined;

    // The bot is invited: it joins (bridge commands need it in the room). An invite into the
    // replacement of an upgraded portal completes the move (see #onTombstone).
    if (target === hs.botUserId) {
      if (membership !== "invite") return;
      try {
        await hs.join(hs.botUserId, ev.room_id);
      } catch (err) {
        ctx.log.info({ err: errText(err) }, "matrix: the bot could not join");
        return;
      }
      await this.#completeUpgrade(ev.room_id);
      return;
    }
    // Memberships of a room replaced by an upgrade: the replacement carries the MIMI room now, and
    // users leaving the old room (as clients offer after an upgrade) are not leaving MIMI.
    if (this.#superseded.has(ev.room_id)) return;

    if (ids.isGhost(target)) {
      if (membership === "invite") {
        if (platformRoom !== undefined) {
          const res = await submitMembership("invite");
          if (res?.status === "accepted") await hs.join(target, ev.room_id).catch((err: unknown) => ctx.log.info({ err: errText(err) }, "matrix: the ghost could not join"));
          else await hs.leave(target, ev.room_id, res?.status === "rejected" ? res.message : undefined).catch(() => undefined);
          return;
        }
        if (ev.content.is_direct === true) {
          // MIMI-MATRIX-03: inviting a ghost to a DM asks the remote user for consent.
          // With consent (or a policy that needs none) the DM becomes a MIMI direct room at once;
          // otherwise the invite waits for the grant (handleMimiConsentChange).
          const inv: PendingInvite = { roomId: ev.room_id, local: ev.sender, ghost: target, eventId: ev.event_id };
          const res = await this.#openDirect(inv, "first");
          if (res.status === "accepted") return;
          const peer = ids.parseGhost(target);
          await ctx.store.put(`pinv/${ev.sender}/${target}/${ev.room_id}`, inv);
          const asked = await this.#submit({ type: "consent.request", platformEventId: platformEventId(`consent:${ev.event_id}`), sender: platformUserId(ev.sender), peer: platformUserId(target), timestamp: ev.origin_server_ts });
          if (asked.status === "rejected") {
            await ctx.store.del(`pinv/${ev.sender}/${target}/${ev.room_id}`);
            await hs.leave(target, ev.room_id, `${asked.message} (${asked.code})`).catch(() => undefined);
            return;
          }
          ctx.log.info({ peer, code: res.status === "rejected" ? res.code : undefined }, "matrix: consent requested; the ghost joins once it is granted");
          return;
        }
        // Not bridged and not a DM: the ghost declines with a hint.
        await hs.leave(target, ev.room_id, "this room is not bridged to MIMI: invite the bridge bot and send `!mimi bridge`").catch(() => undefined);
        return;
      }
      if (platformRoom === undefined) return;
      if (membership === "leave" && prev !== "ban" && ev.sender !== target) await submitMembership("kick", reason);
      else if (membership === "ban") await submitMembership("ban", reason);
      else if (membership === "leave" && prev === "ban") await submitMembership("unban");
      return;
    }

    if (!ids.isLocal(target)) return;
    // A DM the ghost opened for a MIMI consent request: join = grant, leave or reject = revoke.
    const dm = await ctx.store.get<ConsentDm>(`dmreq/${ev.room_id}`);
    if (dm !== undefined && target === dm.local) {
      if (membership === "join" && prev !== "join") {
        await this.#submit({ type: "consent.grant", platformEventId: platformEventId(`grant:${ev.event_id}`), sender: platformUserId(dm.local), peer: platformUserId(dm.ghost), timestamp: ev.origin_server_ts });
      } else if (membership === "leave") {
        await this.#submit({ type: "consent.revoke", platformEventId: platformEventId(`revoke:${ev.event_id}`), sender: platformUserId(dm.local), peer: platformUserId(dm.ghost), timestamp: ev.origin_server_ts });
        await ctx.store.del(`dmreq/${ev.room_id}`);
        await ctx.store.del(`dmreq-by/${dm.local}/${dm.ghost}`);
      }
      if (platformRoom === undefined) return;
    }
    if (platformRoom === undefined) return;
    // Knocks (join_rule `knock`): MIMI has no knock (protocol-06 reserves canKnock/canAcceptKnock,
    // mimi-protocol#38), so a knock stays on Matrix, where the room's admins see it; the bot says
    // so in the room. Accepting it is an invite (→ a MIMI add); rejecting or withdrawing it
    // (knock → leave) never reached MIMI, so it is not a leave or kick there.
    if (membership === "knock") {
      await this.#notice(ev.room_id, platformRoom, ev.event_id, `${target} asks to join. MIMI has no knocks: a room admin accepts by inviting them (which adds them to the MIMI room too).`);
      return;
    }
    if (prev === "knock" && membership === "leave") return;
    if (membership === "join" && prev !== "join") await submitMembership("join");
    else if (membership === "leave" && ev.sender === target && prev !== "ban") await submitMembership("leave", reason);
    else if (membership === "leave" && ev.sender !== target && prev === "ban") await submitMembership("unban");
    else if (membership === "leave" && ev.sender !== target) await submitMembership("kick", reason);
    else if (membership === "ban") await submitMembership("ban", reason);
    else if (membership === "invite") await submitMembership("invite");
  }

  // ---- room upgrades (MIMI-MATRIX-08) ----------------------------------------------------------------------

  /**
   * CS-API "Room Upgrades": the old room gets m.room.tombstone naming `replacement_room`. The bot
   * joins the replacement (or, when its join rule refuses, asks in the old room to be invited and
   * finishes on that invite); the portal's platform room stays the same (so message-ID maps and
   * old event IDs keep resolving) and only the Matrix room behind it moves (`cur/` for "!" portals,
   * `alias/` for alias portals, whose aliases Synapse moves with the upgrade).
   */
  async #onTombstone(ev: MatrixEvent): Promise<void> {
    const { hs, ctx } = this.#need();
    const replacement = ev.content.replacement_room;
    if (ev.state_key !== "" || typeof replacement !== "string" || !replacement.startsWith("!") || replacement === ev.room_id) return;
    const platformRoom = await this.#portalOfMatrix(ev.room_id);
    if (platformRoom === undefined) return;
    // Only the portal's current room moves it (a tombstone of a room replaced earlier changes nothing).
    if ((await this.#matrixRoomOf(platformRoom)) !== ev.room_id) return;
    // A room that carries another portal is no replacement (two MIMI rooms would share it).
    const other = await this.#portalOfMatrix(replacement);
    if (other !== undefined && other !== platformRoom) {
      ctx.log.warn({ from: ev.room_id, to: replacement }, "matrix: a tombstone names another portal's room; the portal stays");
      await this.#notice(ev.room_id, platformRoom, ev.event_id, `This room was replaced by ${replacement}, which is bridged to another MIMI room: this room stays bridged, nothing moves.`);
      return;
    }
    // Recorded before the bot joins (idempotent; a crash re-handles the tombstone): from the join on,
    // events of the new room arrive in their own lane and resolve through this record.
    await ctx.store.put(`upgpending/${replacement}`, { platformRoom, from: ev.room_id } satisfies PendingUpgrade);
    try {
      await hs.join(hs.botUserId, replacement);
    } catch (err) {
      ctx.log.info({ err: errText(err), from: ev.room_id, to: replacement }, "matrix: the bot cannot join the upgraded room yet; waiting for an invite");
      await this.#notice(ev.room_id, platformRoom, ev.event_id, `This room was upgraded. Invite ${hs.botUserId} to the new room so that it stays bridged to MIMI.`);
      return;
    }
    await this.#completeUpgrade(replacement);
  }

  /**
   * The predecessor a room names in its m.room.create (`content.predecessor.room_id`, CS-API "Room
   * Upgrades"; older rooms: absent). undefined while the bot cannot read the room.
   */
  async #predecessorOf(roomId: string): Promise<string | null | undefined> {
    const known = this.#predecessors.get(roomId);
    if (known !== undefined) return known;
    const { hs } = this.#need();
    const create = await hs.state(hs.botUserId, roomId, "m.room.create", "");
    if (create === undefined) return undefined;
    const predecessor = create.predecessor;
    const from = typeof predecessor === "object" && predecessor !== null && typeof (predecessor as { room_id?: unknown }).room_id === "string" ? (predecessor as { room_id: string }).room_id : null;
    if (this.#predecessors.size >= PREDECESSOR_CACHE_MAX) this.#predecessors.delete(this.#predecessors.keys().next().value ?? "");
    this.#predecessors.set(roomId, from);
    return from;
  }

  /**
   * The upgrade `newRoom` completes, if it is the real replacement of a portal's current room: the
   * portal's room has an m.room.tombstone naming it (sent by someone the homeserver let do so) AND
   * its m.room.create names that room as `predecessor` (set by the homeserver at creation: CS-API
   * "Room Upgrades"), and it carries no other portal. A tombstone alone could point a portal at any
   * room the bot can join. Found from `upgpending/` (the tombstone was handled) or, when an event of
   * the new room comes first (an early invite of the bot), from the two rooms' state.
   */
  async #replacementOf(newRoom: string): Promise<PendingUpgrade | undefined> {
    const { hs, ctx } = this.#need();
    let pending = await ctx.store.get<PendingUpgrade>(`upgpending/${newRoom}`);
    const from = await this.#predecessorOf(newRoom);
    if (from === undefined || from === null || (pending !== undefined && pending.from !== from)) return undefined;
    if (pending === undefined) {
      const platformRoom = await this.#portalOfMatrix(from);
      if (platformRoom === undefined || (await this.#matrixRoomOf(platformRoom)) !== from) return undefined;
      const tombstone = await hs.state(hs.botUserId, from, "m.room.tombstone", "");
      if (tombstone?.replacement_room !== newRoom) return undefined;
      pending = { platformRoom, from };
      await ctx.store.put(`upgpending/${newRoom}`, pending);
    }
    const other = await this.#portalOfMatrix(newRoom);
    return other === undefined || other === pending.platformRoom ? pending : undefined;
  }

  async #completeUpgrade(newRoom: string): Promise<void> {
    const { hs, ids, ctx } = this.#need();
    const recorded = await ctx.store.get<PendingUpgrade>(`upgpending/${newRoom}`);
    if (recorded === undefined) return;
    // The bot cannot read the room yet (not joined): the invite it asked for finishes the upgrade.
    if ((await this.#predecessorOf(newRoom)) === undefined) return;
    const pending = await this.#replacementOf(newRoom);
    if (pending === undefined) {
      // Not the replacement (no or another predecessor, or another portal's room): nothing moves;
      // the bot leaves the room unless it carries a portal, and tells the old room why.
      await ctx.store.del(`upgpending/${newRoom}`);
      ctx.log.warn({ from: recorded.from, to: newRoom }, "matrix: a tombstone names a room that does not replace this one; the portal stays");
      if ((await this.#portalOfMatrix(newRoom)) === undefined) await hs.leave(hs.botUserId, newRoom, "not the replacement of a bridged room").catch((err: unknown) => ctx.log.info({ err: errText(err) }, "matrix: the bot could not leave"));
      await this.#notice(recorded.from, recorded.platformRoom, `tombstone:${recorded.from}:${newRoom}`, `This room names ${newRoom} as its replacement, but that room is not its upgrade (its m.room.create does not name this room as predecessor, or it is bridged already): this room stays bridged to MIMI, nothing moves.`);
      return;
    }
    const { platformRoom, from } = pending;
    await this.#serials.run(platformRoom, async () => {
      // The tombstone's lane and the new room's (the bot's invite) may both get here: one move.
      if ((await ctx.store.get<PendingUpgrade>(`upgpending/${newRoom}`)) === undefined) return;
      const previous = (await ctx.store.get<string[]>(`prev/${platformRoom}`)) ?? [];
      const ops: AdapterStoreOp[] = [
        { type: "put", key: `rid/${newRoom}`, value: platformRoom },
        { type: "put", key: `old/${from}`, value: platformRoom },
        { type: "put", key: `prev/${platformRoom}`, value: [...previous.filter((r) => r !== from), from] },
        platformRoom.startsWith("!") ? { type: "put", key: `cur/${platformRoom}`, value: newRoom } : { type: "put", key: `alias/${platformRoom}`, value: newRoom },
        { type: "del", key: `upgpending/${newRoom}` },
      ];
      if (ctx.store.batch) await ctx.store.batch(ops);
      else for (const op of ops) await (op.type === "put" ? ctx.store.put(op.key, op.value) : ctx.store.del(op.key));
      if (platformRoom.startsWith("!")) this.#current.set(platformRoom, newRoom);
      else this.#aliasRooms.set(platformRoom, newRoom);
      this.#superseded.add(from);
      this.#metrics.portalsUpgraded.inc();
      ctx.log.info({ platformRoom, from, to: newRoom }, "matrix: the portal follows the room upgrade");
    });
    // The ghosts present in the old room follow (the bot invites them if the join rule asks for it).
    const members = await hs.joinedMembers(hs.botUserId, from).catch(() => [] as string[]);
    for (const m of members) {
      if (!ids.isGhost(m)) continue;
      await hs.join(m, newRoom).catch((err: unknown) => ctx.log.info({ err: errText(err), ghost: m }, "matrix: a ghost could not follow the room upgrade"));
    }
  }

  /**
   * The Matrix room that holds `eventId` of a portal: the current room, or one it replaced (an
   * edit or retraction from MIMI of a message shown before an upgrade goes to the old room).
   */
  async #roomHolding(platformRoom: string, current: string, eventId: string): Promise<string> {
    const { hs, ctx } = this.#need();
    const previous = await ctx.store.get<string[]>(`prev/${platformRoom}`);
    if (previous === undefined || previous.length === 0) return current;
    if (await hs.hasEvent(hs.botUserId, current, eventId)) return current;
    for (const old of [...previous].reverse()) if (await hs.hasEvent(hs.botUserId, old, eventId)) return old;
    return current;
  }

  /** The Matrix rooms a portal has had (the current one last); tests and status. */
  async matrixRoomsOf(platformRoom: string): Promise<string[]> {
    const { ctx } = this.#need();
    const previous = (await ctx.store.get<string[]>(`prev/${platformRoom}`)) ?? [];
    const current = await this.#matrixRoomOf(platformRoom);
    return [...previous, ...(current === undefined ? [] : [current])];
  }

  // ---- bot commands (MIMI-MATRIX-04: bridge, unbridge, status, help; MIMI-MATRIX-11: invite, consent) ------

  async #command(ev: MatrixEvent, platformRoom: string | undefined): Promise<void> {
    const { hs, ctx } = this.#need();
    const [, verb = "help", ...args] = String(ev.content.body).trim().split(/\s+/);
    const reply = (text: string) => hs.send(hs.botUserId, ev.room_id, "m.room.message", { msgtype: "m.notice", body: text }, `cmd-${sha256Hex(ev.event_id).slice(0, 24)}`).catch((err: unknown) => ctx.log.info({ err: errText(err) }, "matrix: could not answer a command"));
    switch (verb) {
      case "bridge": {
        if (platformRoom !== undefined) {
          const p = await ctx.core.portals.byPlatformRoom(platformRoomId(platformRoom));
          await reply(`This room is already bridged to MIMI room ${p?.roomId ?? "?"}.`);
          return;
        }
        if (!(await this.#isRoomAdmin(ev.room_id, ev.sender))) {
          await reply("Only a room admin (power level ≥ 50) can bridge this room.");
          return;
        }
        const kind: RoomKindName = args[0] === "channel" ? "channel" : "group";
        const nameState = await hs.state(hs.botUserId, ev.room_id, "m.room.name", "");
        const topicState = await hs.state(hs.botUserId, ev.room_id, "m.room.topic", "");
        const res = await this.#submit({
          type: "room.create",
          platformEventId: platformEventId(`bridge:${ev.event_id}`),
          sender: platformUserId(ev.sender),
          room: platformRoomId(ev.room_id),
          kind,
          ...(typeof nameState?.name === "string" && nameState.name !== "" ? { name: nameState.name } : {}),
          ...(typeof topicState?.topic === "string" && topicState.topic !== "" ? { topic: topicState.topic } : {}),
          timestamp: ev.origin_server_ts,
        }, { retry: false });
        if (res.status === "accepted") {
          const pl = await hs.state(hs.botUserId, ev.room_id, "m.room.power_levels", "");
          const botLevel = ((pl?.users as Record<string, number> | undefined) ?? {})[hs.botUserId] ?? 0;
          const hint = botLevel >= 100 ? "" : ` Give ${hs.botUserId} power level 100 so that kicks, bans, roles and room names from MIMI show here.`;
          await reply(`Bridged to MIMI room ${res.roomId ?? ""}.${hint}`);
          // The room's avatar, if it has one (room.create carries only name and topic).
          const avatar = await hs.state(hs.botUserId, ev.room_id, "m.room.avatar", "");
          if (typeof avatar?.url === "string" && avatar.url !== "") {
            const mapped = inboundEvents({ ...ev, type: "m.room.avatar", state_key: "", content: avatar, event_id: `${ev.event_id}:avatar` }, platformRoomId(ev.room_id), this.#mapping());
            for (const e of mapped.events) await this.#submit(e, { retry: false });
          }
        }
        else await reply(`Bridging failed: ${res.status === "rejected" ? `${res.message} (${res.code})` : res.reason}`);
        return;
      }
      case "unbridge": {
        if (platformRoom === undefined) {
          await reply("This room is not bridged.");
          return;
        }
        if (!(await this.#isRoomAdmin(ev.room_id, ev.sender))) {
          await reply("Only a room admin (power level ≥ 50) can unbridge this room.");
          return;
        }
        await ctx.core.portals.unlink(platformRoomId(platformRoom));
        await reply("Unbridged: this room no longer carries messages to or from MIMI.");
        return;
      }
      case "status": {
        const portal = platformRoom === undefined ? undefined : await ctx.core.portals.byPlatformRoom(platformRoomId(platformRoom));
        await reply(`Bridge: ${this.#status.state}. ${portal === undefined ? "This room is not bridged." : `This room is bridged to MIMI room ${portal.roomId} (${portal.kind}).`}`);
        return;
      }
      case "invite": {
        const query = args.join(" ").trim();
        if (query === "") {
          await reply("Usage: `!mimi invite <mimi://…/u/… | user@provider | tel:+… | mailto:…>`");
          return;
        }
        const found = await this.#lookup(ev, query);
        if (typeof found === "string") {
          await reply(found);
          return;
        }
        if (platformRoom === undefined) {
          await reply(`${found.mimiUri} is ${found.ghost} here. Invite ${found.ghost} to a direct chat to talk to them (MIMI asks for their consent first), or bridge this room (\`!mimi bridge\`) to add them to it.`);
          return;
        }
        // The bridge submits the invite in the user's name, so it enforces what Matrix would have:
        // the room's `invite` power level (CS API "m.room.power_levels"; auth rules §4.3).
        const may = await this.#mayInvite(ev.room_id, ev.sender);
        if (may !== true) {
          await reply(may);
          return;
        }
        // An application service can act only as the users of its namespace, so the bot cannot send
        // the user's invite: the bridge submits the invite the user asked for, in the user's name.
        // The core makes it a MIMI add (or refuses it, e.g. MIMI_ERR_CONSENT_REQUIRED); once MIMI
        // added them, the ghost joins (the bot invites it if the join rule asks for an invite).
        const res = await this.#submit({
          type: "room.membership",
          platformEventId: platformEventId(`invitecmd:${ev.event_id}`),
          sender: platformUserId(ev.sender),
          room: platformRoomId(platformRoom),
          action: "invite",
          target: platformUserId(found.ghost),
          timestamp: ev.origin_server_ts,
        }, { retry: false });
        if (res.status === "accepted") await reply(`Invited ${found.mimiUri} (${found.ghost}).`);
        else await reply(`MIMI did not add ${found.mimiUri}: ${res.status === "rejected" ? `${res.message} (${res.code})` : res.reason}`);
        return;
      }
      case "consent":
        await this.#consentCommand(ev, args, reply);
        return;
      default:
        await reply(
          "MIMI bridge commands: `!mimi bridge [group|channel]` and `!mimi unbridge` (room admins), `!mimi status`, " +
            "`!mimi invite <MIMI address, user@provider, tel:+…, mailto:…>` (finds a MIMI user and adds them to this bridged room), " +
            "`!mimi consent list|grant <user>|revoke <user>` (your MIMI contact consents; in a direct chat with the bot), `!mimi help`. " +
            "Invite a MIMI user's ghost to a direct chat to talk to them.",
        );
    }
  }

  /**
   * A user named in a command: a ghost or local Matrix ID directly, anything else through the
   * core's discovery (`identifier.query`, as XMPP's XEP-0100 gateway does). A bare phone number is
   * made a tel: URI. Returns the MIMI user and its Matrix user, or what to tell the user.
   */
  async #lookup(ev: MatrixEvent, query: string): Promise<{ mimiUri: string; ghost: string } | string> {
    const { ids } = this.#need();
    const ghostOf = ids.parseGhost(query);
    if (ghostOf !== undefined) return { mimiUri: ghostOf, ghost: query };
    const local = ids.toMimiUri(query);
    if (local !== undefined) return { mimiUri: local, ghost: query };
    if (query.length > 512) return "That is too long for an address.";
    const q = /^\+[0-9 ()-]{4,30}$/.test(query) ? `tel:${query.replace(/[ ()-]/g, "")}` : query;
    const res = await this.#submit({
      type: "identifier.query",
      platformEventId: platformEventId(`lookup:${ev.event_id}:${sha256Hex(q).slice(0, 16)}`),
      sender: platformUserId(ev.sender),
      query: q,
      timestamp: ev.origin_server_ts,
    }, { retry: false });
    if (res.status === "rejected") return `Looking up ${query} failed: ${res.message} (${res.code})`;
    if (res.status === "ignored") return `Looking up ${query} failed: ${res.reason}`;
    const [first, ...more] = res.resolved ?? [];
    if (first === undefined) return `No MIMI user found for ${query}.`;
    if (more.length > 0) return `${query} names several MIMI users (${[first, ...more].map((x) => x.mimiUri).join(", ")}): give one of these addresses.`;
    return { mimiUri: first.mimiUri, ghost: first.ghost };
  }

  /**
   * `!mimi consent list|grant <user>|revoke <user>` for the sender (draft-ietf-mimi-protocol
   * consent; src/consent). Answers only in a room where nobody but the sender and the bot is
   * joined: who asked whom is private.
   */
  async #consentCommand(ev: MatrixEvent, args: readonly string[], reply: (text: string) => Promise<unknown>): Promise<void> {
    const { hs, ids, ctx } = this.#need();
    // Fails closed: the room must be known to hold only the sender and the bot, joined or invited
    // (an invited user can read the history once they join, per history_visibility "shared").
    let others: string[];
    try {
      const r = await hs.request(hs.botUserId, "GET", `/_matrix/client/v3/rooms/${encodeURIComponent(ev.room_id)}/members`);
      const chunk = Array.isArray(r.chunk) ? (r.chunk as Array<Record<string, unknown>>) : undefined;
      if (chunk === undefined) throw new MimiError("MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE", "the homeserver answered /members without a chunk");
      others = chunk
        .filter((m) => m.type === "m.room.member" && typeof m.state_key === "string" && ["join", "invite"].includes(String((m.content as Record<string, unknown> | undefined)?.membership)))
        .map((m) => String(m.state_key))
        .filter((u) => u !== hs.botUserId && u !== ev.sender);
    } catch (err) {
      ctx.log.info({ err: errText(err), roomId: ev.room_id }, "matrix: cannot read the members for a consent command");
      await reply("Consent commands are answered only in a direct chat with me, and I could not check who is in this room: try again later.");
      return;
    }
    if (others.length > 0) {
      await reply(`Consent commands are answered only in a direct chat with me: invite ${hs.botUserId} to a new room and send them there.`);
      return;
    }
    const [sub = "list", ...rest] = args;
    if (sub === "list") {
      if (ctx.core.consents === undefined) {
        await reply("This bridge cannot list consents.");
        return;
      }
      let listing: Awaited<ReturnType<NonNullable<typeof ctx.core.consents>>>;
      try {
        listing = await ctx.core.consents(platformUserId(ev.sender));
      } catch (err) {
        await reply(`Listing your consents failed: ${err instanceof MimiError ? `${err.message} (${err.code})` : "internal error"}`);
        return;
      }
      const lines = listing.records.map((c) => `${c.direction === "incoming" ? "from" : "to"} ${c.peer}${c.roomId === undefined ? "" : ` (room ${c.roomId})`}: ${c.state}`);
      await reply(`Your MIMI consent policy: ${listing.policy}. ${lines.length === 0 ? "No consent records." : `Consents:\n${lines.join("\n")}`}`);
      return;
    }
    if (sub !== "grant" && sub !== "revoke") {
      await reply("Usage: `!mimi consent list`, `!mimi consent grant <user>`, `!mimi consent revoke <user>`.");
      return;
    }
    const query = rest.join(" ").trim();
    const found = query === "" ? "Name the MIMI user (an address, user@provider, or their Matrix ghost)." : await this.#lookup(ev, query);
    if (typeof found === "string") {
      await reply(found);
      return;
    }
    if (!ids.isGhost(found.ghost)) {
      await reply(`${found.mimiUri} is a user of this homeserver: consent is for users of other MIMI providers.`);
      return;
    }
    const res = await this.#submit({ type: sub === "grant" ? "consent.grant" : "consent.revoke", platformEventId: platformEventId(`consentcmd:${ev.event_id}`), sender: platformUserId(ev.sender), peer: platformUserId(found.ghost), timestamp: ev.origin_server_ts }, { retry: false });
    if (res.status === "accepted") await reply(sub === "grant" ? `${found.mimiUri} may now contact you.` : `Consent for ${found.mimiUri} revoked.`);
    else await reply(`The consent ${sub} failed: ${res.status === "rejected" ? `${res.message} (${res.code})` : res.reason}`);
  }

  /**
   * Whether `user` may invite into `roomId`: their power level (v12 creators: unlimited, MSC4289;
   * else `users[user]`, then `users_default`, default 0) is at least the room's `invite` level
   * (default 0, CS API "m.room.power_levels"). True, or the notice to answer with; fails closed.
   */
  async #mayInvite(roomId: string, user: string): Promise<true | string> {
    const { hs, ctx } = this.#need();
    try {
      if ((await hs.creators(roomId)).includes(user)) return true;
      const pl = await hs.state(hs.botUserId, roomId, "m.room.power_levels", "");
      const num = (v: unknown, d: number): number => (typeof v === "number" && Number.isInteger(v) ? v : d);
      const users = (pl?.users as Record<string, unknown> | undefined) ?? {};
      const level = num(users[user], num(pl?.users_default, 0));
      const needed = num(pl?.invite, 0);
      return level >= needed ? true : `You cannot invite in this room: inviting needs power level ${needed}, yours is ${level}.`;
    } catch (err) {
      ctx.log.info({ err: errText(err), roomId }, "matrix: cannot read the power levels for an invite command");
      return "I could not check whether you may invite in this room: try again later.";
    }
  }

  async #isRoomAdmin(roomId: string, user: string): Promise<boolean> {
    const { hs, config } = this.#need();
    if (config.admins.includes(user)) return true;
    if ((await hs.creators(roomId)).includes(user)) return true;
    const pl = await hs.state(hs.botUserId, roomId, "m.room.power_levels", "");
    const users = (pl?.users as Record<string, number> | undefined) ?? {};
    const level = users[user] ?? (typeof pl?.users_default === "number" ? pl.users_default : 0);
    return level >= 50;
  }

  /** Portals of this adapter (tests, commands). */
  async portalOf(platformRoom: string): Promise<Portal | undefined> {
    return this.#need().ctx.core.portals.byPlatformRoom(platformRoomId(platformRoom));
  }

  /** The Matrix room ID behind a platform room (tests). */
  async matrixRoomOf(platformRoom: string): Promise<string | undefined> {
    return this.#matrixRoomOf(platformRoom);
  }
}

const textOf = (v: unknown): string => (typeof v === "string" ? v : "");

function reactionKey(room: string, sender: string, target: string, reaction: string): string {
  return `react/${sha256Hex(`${room}\n${sender}\n${target}\n${reaction}`).slice(0, 40)}`;
}
