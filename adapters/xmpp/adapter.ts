// The XMPP adapter: an XEP-0114 component that makes the XMPP server's users MIMI users and shows
// remote MIMI users (ghosts, XEP-0106 escaped JIDs) and MIMI rooms (MUCs) on the component domain.
// See README.md for the design, docs/ADAPTERS.md for the contract with the core.
//
// Traceability (issue 5; the same IDs name the tests):
//   MIMI-XMPP-01 XEP-0114 component connection, reconnect with backoff, status reports
//   MIMI-XMPP-02 durable outbound queue, resent after reconnect with the same stanza IDs
//   MIMI-XMPP-03 one-to-one chat (RFC 6121 §5) ↔ direct rooms; portal creation
//   MIMI-XMPP-04 presence subscription (RFC 6121 §3) ↔ consent; ghost presence
//   MIMI-XMPP-05 XEP-0359 stable IDs; inbound idempotence
//   MIMI-XMPP-06 inbound journal: stanzas that become MIMI events survive a bridge crash
//   MIMI-XMPP-10 XEP-0308 corrections        MIMI-XMPP-11 XEP-0461 replies + XEP-0428 fallback
//   MIMI-XMPP-12 XEP-0444 reactions          MIMI-XMPP-13 XEP-0424 retractions, XEP-0425 moderation
//   MIMI-XMPP-14 XEP-0333 chat markers       MIMI-XMPP-15 XEP-0085 chat states
//   MIMI-XMPP-16 XEP-0203 delays             MIMI-XMPP-17 XEP-0066 file links
//   MIMI-XMPP-20 XEP-0045 MUC service: join, roster, subject, history, nick, leave, disco
//   MIMI-XMPP-21 XEP-0045 §8–9 kick and ban (admin IQ → MIMI; MIMI → 307/301)
//   MIMI-XMPP-22 MIMI participant changes in component MUCs
//   MIMI-XMPP-23 existing MUCs bridged by an admin command
//   MIMI-XMPP-25 XEP-0030 disco              MIMI-XMPP-26 XEP-0100 gateway interaction
//   MIMI-XMPP-27 XEP-0050 ad-hoc admin commands
//   MIMI-XMPP-30 hostile input: stanza errors or drops, never a crash
import { randomBytes } from "node:crypto";
import {
  MimiError,
  adapterId,
  platformEventId,
  platformRoomId,
  platformUserId,
  type Adapter,
  type AdapterCapabilities,
  type AdapterContext,
  type AdapterStatus,
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
  type ReactionHandlingAdapter,
  type ReceiptHandlingAdapter,
  type RetractionHandlingAdapter,
  type RoomKindName,
  type RoomMetadataHandlingAdapter,
  type SubmitResult,
  type TypingHandlingAdapter,
} from "../../src/adapter/index.ts";
import { BridgedMucs } from "./bridged.ts";
import { XmppConfigSchema, resolveXmppConfig, type XmppConfig } from "./config.ts";
import { errorForRejection, fromJsonEl, toJsonEl, type BridgeContext, type JsonEl } from "./context.ts";
import { XmppIds, bareOf, key, sha256Hex, stanzaIdFor, tryParseJid, type JidClass } from "./ids.ts";
import { planInbound } from "./inbound.ts";
import { ComponentLink, errText } from "./link.ts";
import { ComponentMuc } from "./muc.ts";
import { contentChildren, correctionChildren, delayElement, parseMessage, reactionChildren, retractionChildren } from "./rich.ts";
import { KeyedSerial } from "../../src/adapter/index.ts";
import { ADAPTER_VERSION, GHOST_FEATURES, ServiceHandler } from "./service.ts";
import { NS, byteLength, errorElement, errorReply, xml, type StanzaErrorSpec, type XmlElement } from "./xml.ts";

interface Subscription {
  /** The ghost approved the local user's subscription (consent granted). */
  granted: boolean;
}

const LATE_MS = 5000;
const MARKER_TTL_MS = 7 * 24 * 3600_000;

type Delivering = "chat" | "muc" | "bridged";

export class XmppAdapter
  implements
    Adapter<XmppConfig>,
    EditHandlingAdapter,
    RetractionHandlingAdapter,
    ReactionHandlingAdapter,
    RoomMetadataHandlingAdapter,
    ConsentPromptingAdapter,
    TypingHandlingAdapter,
    ReceiptHandlingAdapter,
    HealthReportingAdapter
{
  readonly info = { id: adapterId("xmpp"), displayName: "XMPP (XEP-0114 component)", version: ADAPTER_VERSION };
  readonly configSchema = XmppConfigSchema;

  #ctx: AdapterContext<XmppConfig> | undefined;
  #config: XmppConfig | undefined;
  #ids: XmppIds | undefined;
  #link: ComponentLink | undefined;
  #muc: ComponentMuc | undefined;
  #bridged: BridgedMucs | undefined;
  #service: ServiceHandler | undefined;
  #b: BridgeContext | undefined;
  readonly #serial = new KeyedSerial();
  #status: AdapterStatus = { state: "stopped", since: Date.now() };
  #started = false;
  #firstAttempt: Promise<void> | undefined;
  #firstAttemptDone: (() => void) | undefined;
  #dropped = 0;

  // ---- lifecycle -------------------------------------------------------------------------------------

  init(ctx: AdapterContext<XmppConfig>): void {
    const config = resolveXmppConfig(ctx.config);
    const ids = new XmppIds({ domain: config.domain, componentDomain: config.componentDomain, provider: ctx.core.domain, mucDomain: config.mucDomain });
    this.#ctx = ctx;
    this.#config = config;
    this.#ids = ids;
    const log = ctx.log;
    this.#firstAttempt = new Promise((resolve) => (this.#firstAttemptDone = resolve));
    const link = new ComponentLink({
      config,
      log,
      store: ctx.store,
      reportStatus: (state, message) => {
        this.#status = message === undefined ? { state, since: Date.now() } : { state, message, since: Date.now() };
        if (state !== "starting") this.#firstAttemptDone?.();
        ctx.core.reportStatus(state, message);
      },
      onStanza: (el) => this.#onStanza(el),
      onOnline: () => this.#onOnline(),
    });
    this.#link = link;
    const submit = async (event: PlatformEvent): Promise<SubmitResult> => {
      try {
        return await ctx.core.submit(event);
      } catch (err) {
        log.warn({ err: errText(err), type: event.type }, "xmpp: core.submit failed");
        return { status: "rejected", code: err instanceof MimiError ? err.code : "MIMI_ERR_INTERNAL", message: err instanceof MimiError ? err.message : "internal error" };
      }
    };
    this.#b = { ids, config, log, core: ctx.core, store: ctx.store, link, submit };
    this.#muc = new ComponentMuc(this.#b);
    this.#bridged = new BridgedMucs(this.#b);
    this.#service = new ServiceHandler(this.#b, this.#muc, this.#bridged);
    ctx.signal.addEventListener("abort", () => void this.stop(), { once: true });
  }

  #need(): { ctx: AdapterContext<XmppConfig>; config: XmppConfig; ids: XmppIds; link: ComponentLink; muc: ComponentMuc; bridged: BridgedMucs; service: ServiceHandler; b: BridgeContext } {
    const [ctx, config, ids, link, muc, bridged, service, b] = [this.#ctx, this.#config, this.#ids, this.#link, this.#muc, this.#bridged, this.#service, this.#b];
    if (ctx === undefined || config === undefined || ids === undefined || link === undefined || muc === undefined || bridged === undefined || service === undefined || b === undefined) {
      throw new MimiError("MIMI_ERR_INTERNAL", "the XMPP adapter was used before init()");
    }
    return { ctx, config, ids, link, muc, bridged, service, b };
  }

  /** Connects; resolves after the first attempt (a server that is down is reported, not thrown). */
  async start(): Promise<void> {
    const { link, ctx } = this.#need();
    if (this.#started) return;
    this.#started = true;
    await this.#pruneMarkers().catch((err: unknown) => ctx.log.warn({ err: errText(err) }, "xmpp: pruning delivery markers failed"));
    await this.#replayJournal();
    link.start();
    const wait = new Promise<void>((resolve) => setTimeout(resolve, 15000).unref());
    await Promise.race([this.#firstAttempt, wait]);
  }

  async stop(): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    const { link, bridged } = this.#need();
    await link.stop(async () => {
      // Ghosts go offline for their contacts and leave server MUCs before the stream closes.
      for (const { local, ghost } of await this.#grantedPairs()) await link.sendNow(xml("presence", { from: this.#ghostFull(ghost), to: local, type: "unavailable" }));
      await bridged.leaveAll();
    });
  }

  /** Waits until every stanza received so far has been handled (tests). */
  async idle(): Promise<void> {
    const { muc, bridged } = this.#need();
    await this.#journalTail; // stanzas waiting for their journal write are not in the serials yet
    await Promise.all([this.#serial.idle(), muc.idle(), bridged.idle()]);
  }

  health(): AdapterStatus {
    return this.#status;
  }

  /** Stanzas dropped as hostile or malformed since start (for tests and metrics). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Stanzas in the durable queue not yet confirmed by the server. */
  get queued(): number {
    return this.#link?.queued ?? 0;
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

  async #onOnline(): Promise<void> {
    const { link, bridged } = this.#need();
    // MIMI-XMPP-04: ghosts are available to the contacts that subscribed to them.
    for (const { local, ghost } of await this.#grantedPairs()) await link.sendNow(xml("presence", { from: this.#ghostFull(ghost), to: local }));
    await bridged.rejoinAll();
  }

  async #pruneMarkers(): Promise<void> {
    const { ctx } = this.#need();
    const now = Date.now();
    for (const row of await ctx.store.list<number>("sent/")) if (typeof row.value !== "number" || now - row.value > MARKER_TTL_MS) await ctx.store.del(row.key);
  }

  // ---- identity (pure) --------------------------------------------------------------------------------

  toMimiUri(user: PlatformUserId): string | undefined {
    return this.#ids?.toMimiUri(user);
  }

  localUserFor(mimiUri: string): PlatformUserId | undefined {
    return this.#ids?.localJidOf(mimiUri);
  }

  ghostFor(mimiUri: string): PlatformUserId {
    return this.#need().ids.ghostFor(mimiUri);
  }

  parseGhost(user: PlatformUserId): string | undefined {
    return this.#ids?.parseGhost(user);
  }

  platformRoomFor(room: { readonly roomId: string; readonly kind: RoomKindName; readonly localUsers: readonly PlatformUserId[]; readonly remoteUsers: readonly string[] }): PlatformRoomId {
    const { ids } = this.#need();
    const [local] = room.localUsers;
    const [remote] = room.remoteUsers;
    if (room.kind === "direct" && room.localUsers.length === 1 && room.remoteUsers.length === 1 && local !== undefined && remote !== undefined) {
      return ids.chatRoom(local, ids.ghostFor(remote));
    }
    return ids.roomJidFor(room.roomId);
  }

  #ghostFull(ghost: string): string {
    return `${ghost}/${this.#need().config.ghostResource}`;
  }

  // ---- stanza routing (MIMI-XMPP-30: nothing thrown out of here) ----------------------------------------

  #drop(reason: string, stanza: XmlElement, extra: Record<string, unknown> = {}): void {
    this.#dropped++;
    this.#ctx?.log.info({ stanza: stanza.name, type: stanza.attrs.type, from: stanza.attrs.from?.slice(0, 200), reason, ...extra }, "xmpp: stanza dropped");
  }

  async #replyError(stanza: XmlElement, spec: StanzaErrorSpec): Promise<void> {
    const r = errorReply(stanza, spec);
    if (r !== undefined) await this.#need().link.sendNow(r);
  }

  /** Test hook and router entry: handles one stanza as if the server had sent it. */
  injectStanza(el: XmlElement): void {
    this.#onStanza(el);
  }

  // ---- inbound journal (MIMI-XMPP-06) ------------------------------------------------------------------
  //
  // XEP-0114 has no acknowledgements: a stanza the server wrote to our socket is gone from the
  // server. What becomes MIMI events (messages, subscription presences) is therefore written to
  // the adapter store before it is handled and deleted once handled; entries left by a crash are
  // handled again on the next start, before anything new. The core deduplicates by the stanza's
  // stable ID, so a replay of something already accepted changes nothing; a message without an
  // id gets one derived from its journal key first. Every stanza, journaled or not, waits for the
  // writes before it, so the order the server sent them in is kept.

  #journalTail: Promise<unknown> = Promise.resolve();
  #journalCounter = 0;

  static #journaled(el: XmlElement): boolean {
    if (el.name === "message") return el.attrs.type !== "error";
    if (el.name === "presence") return ["subscribe", "subscribed", "unsubscribe", "unsubscribed"].includes(el.attrs.type ?? "");
    return false;
  }

  #onStanza(el: XmlElement): void {
    // What no server would route to us is dropped at once, never journaled.
    const to = tryParseJid(el.attrs.to);
    if (!["message", "presence", "iq"].includes(el.name) || tryParseJid(el.attrs.from) === undefined || to === undefined || to.domainpart !== this.#ids?.componentDomain) {
      this.#dispatch(el, undefined);
      return;
    }
    const store = this.#ctx?.store;
    let key: string | undefined;
    if (store !== undefined && XmppAdapter.#journaled(el)) {
      const stamp = `${Date.now().toString().padStart(15, "0")}-${(this.#journalCounter++).toString().padStart(9, "0")}`;
      key = `in/${stamp}`;
      if (el.name === "message" && el.attrs.id === undefined) el.attrs.id = `xj-${stamp}`;
    }
    const entry = key;
    const ready = this.#journalTail.then(() => (entry === undefined || store === undefined ? undefined : store.put(entry, toJsonEl(el))));
    this.#journalTail = ready.catch(() => undefined);
    void ready.then(
      () => this.#dispatch(el, entry),
      (err: unknown) => {
        // Not journaled (the store failed): still handled, just without the crash guarantee.
        this.#ctx?.log.warn({ err: errText(err) }, "xmpp: journaling an inbound stanza failed");
        this.#dispatch(el, undefined);
      },
    );
  }

  /** Handles the stanzas a previous process journaled but did not finish (called before connecting). */
  async #replayJournal(): Promise<void> {
    const { ctx } = this.#need();
    const rows = (await ctx.store.list<JsonEl>("in/")).sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
    if (rows.length === 0) return;
    ctx.log.info({ stanzas: rows.length }, "xmpp: handling inbound stanzas journaled before a restart");
    const last = rows[rows.length - 1]!.key;
    this.#journalCounter = Math.max(this.#journalCounter, Number(last.slice(last.lastIndexOf("-") + 1)) + 1);
    this.#journalTail = this.#journalTail.then(() => {
      for (const row of rows) this.#dispatch(fromJsonEl(row.value), row.key);
    });
  }

  #dispatch(el: XmlElement, journalKey: string | undefined): void {
    void this.#route(el)
      .catch((err: unknown) => {
        this.#dropped++;
        this.#ctx?.log.warn({ err: errText(err), stanza: el.name }, "xmpp: stanza handler failed");
        if (el.name !== "presence" && (el.attrs.type === "get" || el.attrs.type === "set" || el.name === "message")) {
          void this.#replyError(el, { condition: "internal-server-error", type: "wait" }).catch(() => undefined);
        }
      })
      .then(async () => {
        if (journalKey !== undefined) await this.#ctx?.store.del(journalKey);
      })
      .catch((err: unknown) => this.#ctx?.log.warn({ err: errText(err) }, "xmpp: clearing a journaled stanza failed"));
  }

  async #route(el: XmlElement): Promise<void> {
    const { ids, link, muc, bridged } = this.#need();
    if (el.name !== "message" && el.name !== "presence" && el.name !== "iq") return this.#drop("not a stanza", el);
    const from = tryParseJid(el.attrs.from);
    const to = tryParseJid(el.attrs.to);
    if (from === undefined || to === undefined) return this.#drop("missing or malformed from/to", el);
    if (to.domainpart !== ids.componentDomain) return this.#drop("not addressed to the component", el);
    const fromC = ids.classify(from);
    const toC = ids.classify(to);
    const isIqRequest = el.name === "iq" && (el.attrs.type === "get" || el.attrs.type === "set");
    if (el.name === "iq" && !isIqRequest && el.attrs.type !== "result" && el.attrs.type !== "error") return this.#drop("iq without a valid type", el);
    if (isIqRequest && (el.getChildElements().length !== 1 || el.attrs.id === undefined)) {
      // RFC 6120 §8.2.3: a get or set has an id and exactly one payload child.
      this.#drop("iq get/set without an id or without exactly one child", el);
      return this.#replyError(el, { condition: "bad-request" });
    }
    // The link has taken the answers to our own requests: any other result or error answers nothing.
    if (el.name === "iq" && !isIqRequest) return this.#drop("iq result or error that answers no request", el);

    // Traffic of the server's MUCs for the bridge bot and ghost occupants.
    if (fromC.kind === "serverMuc") {
      if (el.name === "presence") return bridged.onPresence(el, { bare: fromC.bare, resource: from.resourcepart }, el.attrs.to ?? "");
      if (el.name === "message") return bridged.onMessage(el, { bare: fromC.bare, resource: from.resourcepart }, el.attrs.to ?? "");
      if (isIqRequest) return this.#answerIq(el, el.getChild("ping", NS.ping) !== undefined ? null : { condition: "service-unavailable" });
      return;
    }

    if (fromC.kind !== "local") {
      // MIMI-XMPP-30: a sender that is not a user of our XMPP domain (another server, or a ghost or
      // the component itself as sender, which only a broken or hostile server would route).
      if (isIqRequest && toC.kind === "service" && (el.getChild("query", NS.discoInfo) !== undefined || el.getChild("ping", NS.ping) !== undefined) && fromC.kind === "other") {
        const { service } = this.#need();
        return this.#answerIq(el, await service.onIq(el, bareOf(from), el.attrs.from ?? "", false));
      }
      this.#drop(fromC.kind === "other" ? "sender is not a user of this XMPP domain" : `spoofed sender (${fromC.kind})`, el);
      if (fromC.kind === "other" && el.attrs.type !== "error" && el.attrs.type !== "result") {
        await this.#replyError(el, { condition: "forbidden", text: `only users of ${ids.domain} can use this bridge` });
      }
      return;
    }
    const fromFull = el.attrs.from ?? "";

    if (el.name === "message" && el.attrs.type === "error") {
      // A bounce of something we sent (RFC 6120 §8.3): retried or dropped by the queue; a MUC
      // occupant session that bounces is gone.
      const ours = link.handleBounce(el);
      if (toC.kind === "room") await muc.dropSession(toC.bare, fromFull);
      else if (!ours) this.#drop("error that answers nothing we sent", el);
      return;
    }

    switch (toC.kind) {
      case "ghost":
        if (el.name === "message") return this.#serial.run(`in:${ids.chatRoom(fromC.bare, toC.bare)}`, () => this.#chat(el, fromC, fromFull, toC));
        if (el.name === "presence") return this.#serial.run(`in:${ids.chatRoom(fromC.bare, toC.bare)}`, () => this.#presenceToGhost(el, fromC, toC));
        if (isIqRequest) return this.#answerIq(el, this.#ghostIq(el, toC));
        return;
      case "room": {
        const nick = to.resourcepart;
        if (el.name === "presence") return muc.onPresence(el, fromC.bare, fromFull, toC.bare, nick);
        if (el.name === "message") {
          if (nick !== undefined && el.attrs.type !== "groupchat") return muc.onPrivateMessage(el, toC.bare, nick);
          if (nick === undefined && el.attrs.type === "groupchat") return muc.onGroupchat(el, fromC.bare, fromFull, toC.bare);
          // MIMI-XMPP-22: XEP-0045 §7.8.2 mediated invitation → room.membership invite.
          if (nick === undefined && el.getChild("x", NS.mucUser)?.getChild("invite") !== undefined) return muc.onInvite(el, fromC.bare, toC.bare);
          return this.#replyError(el, { condition: "bad-request", text: "send type=groupchat to the room" });
        }
        if (isIqRequest) {
          if (nick !== undefined) return this.#answerIq(el, el.getChild("ping", NS.ping) !== undefined ? await muc.selfPing(toC.bare, nick, fromFull) : { condition: "service-unavailable" });
          return this.#answerIq(el, await muc.onIq(el, fromC.bare, fromFull, toC.bare));
        }
        return;
      }
      case "service": {
        const { service } = this.#need();
        if (isIqRequest) return this.#answerIq(el, await service.onIq(el, fromC.bare, fromFull, true));
        if (el.name === "message" && el.attrs.type !== "groupchat" && el.attrs.type !== "headline" && ownBody(el) !== undefined) {
          return void (await link.sendNow(
            xml("message", { from: ids.componentDomain, to: fromFull, type: "chat" }, xml("body", {}, `This is the MIMI bridge. Message mimi users at <user>\\40<provider>@${ids.componentDomain}, or ask the gateway (XEP-0100) to find one.`)),
          ));
        }
        return;
      }
      default:
        this.#drop("addressed to an unknown JID on the component", el);
        if (isIqRequest || (el.name === "message" && el.attrs.type !== "error")) await this.#replyError(el, { condition: "item-not-found", text: "no such user or room on this bridge" });
        return;
    }
  }

  async #answerIq(iq: XmlElement, answer: XmlElement | null | StanzaErrorSpec): Promise<void> {
    const { link } = this.#need();
    const base = { id: iq.attrs.id, from: iq.attrs.to, to: iq.attrs.from };
    if (answer !== null && !isElement(answer)) {
      await link.sendNow(xml("iq", { ...base, type: "error" }, errorElement(answer)));
      return;
    }
    await link.sendNow(xml("iq", { ...base, type: "result" }, answer ?? undefined));
  }

  /** XEP-0030 info about a ghost (so clients offer corrections, reactions, …), XEP-0199 ping. */
  #ghostIq(el: XmlElement, ghost: Extract<JidClass, { kind: "ghost" }>): XmlElement | null | StanzaErrorSpec {
    if (el.attrs.type === "get" && el.getChild("ping", NS.ping) !== undefined) return null;
    const q = el.getChild("query", NS.discoInfo);
    if (el.attrs.type === "get" && q !== undefined && q.attrs.node !== undefined) return { condition: "item-not-found" }; // XEP-0030 §3.2: no nodes
    if (el.attrs.type === "get" && q !== undefined) {
      return xml(
        "query",
        { xmlns: NS.discoInfo },
        xml("identity", { category: ghost.jid.resourcepart === undefined ? "account" : "client", type: ghost.jid.resourcepart === undefined ? "registered" : "pc", name: ghost.mimiUri }),
        ...GHOST_FEATURES.map((f) => xml("feature", { var: f })),
      );
    }
    return { condition: "service-unavailable" };
  }

  // ---- one-to-one chat (MIMI-XMPP-03) --------------------------------------------------------------------

  async #chat(stanza: XmlElement, from: Extract<JidClass, { kind: "local" }>, fromFull: string, ghost: Extract<JidClass, { kind: "ghost" }>): Promise<void> {
    const { b, config, ids, ctx } = this.#need();
    const type = stanza.attrs.type ?? "normal";
    if (type === "headline") return this.#drop("headline to a ghost", stanza);
    if (type === "groupchat") return this.#replyError(stanza, { condition: "bad-request", text: "a ghost is not a room" });
    const parsed = parseMessage(stanza, config.limits);
    if (parsed.problems.length > 0) {
      this.#drop("malformed message", stanza, { problems: parsed.problems });
      return this.#replyError(stanza, { condition: "bad-request", text: parsed.problems.join("; ") });
    }
    if (parsed.rawBody !== undefined && byteLength(parsed.rawBody) > config.limits.maxBodyBytes) {
      this.#drop("body too large", stanza, { bytes: byteLength(parsed.rawBody) });
      return this.#replyError(stanza, { condition: "policy-violation", text: `body is larger than ${config.limits.maxBodyBytes} bytes` });
    }
    const room = ids.chatRoom(from.bare, ghost.bare);
    const primary = parsed.id ?? parsed.originId ?? `gen-${randomBytes(8).toString("hex")}`;
    // MIMI-XMPP-05: references may name the origin-id instead of the id; keep the alias.
    if (parsed.id !== undefined && parsed.originId !== undefined && parsed.originId !== parsed.id) await ctx.store.put(key("alias", room, parsed.originId), parsed.id);
    const resolveRef = async (id: string): Promise<string> => (await ctx.store.get<string>(key("alias", room, id))) ?? id;
    const plan = await planInbound({ room, sender: platformUserId(from.bare), primaryId: primary, parsed, timestamp: parsed.delay ?? Date.now(), resolveRef }, ctx.store);
    if (plan.events.length === 0) {
      if (parsed.unknown.length > 0) this.#drop("only unknown payloads", stanza, { namespaces: parsed.unknown });
      return;
    }
    const portal = await ctx.core.portals.byPlatformRoom(room);
    if (portal === undefined) {
      if (plan.events[0]?.type !== "message") return; // typing or markers before any chat: nothing to show
      const created = await b.submit({
        type: "room.create",
        // Keyed by the first message too: a refused creation (no consent yet) stays the answer to
        // that stanza only; a later message tries again once the peer consented.
        platformEventId: platformEventId(`create:${room}:${primary}`),
        sender: platformUserId(from.bare),
        room,
        kind: "direct",
        invite: [ghost.mimiUri],
        timestamp: Date.now(),
      });
      if (created.status === "rejected") return this.#replyError(stanza, errorForRejection(created));
      if (created.status === "ignored") return this.#replyError(stanza, { condition: "not-allowed", text: created.reason });
    }
    for (const event of plan.events) {
      const res = await b.submit(event);
      if (res.status === "rejected") {
        if (plan.content) await this.#replyError(stanza, errorForRejection(res));
        else ctx.log.debug({ code: res.code, type: event.type }, "xmpp: the core refused a chat state or marker");
        return;
      }
    }
    await plan.commit();
    void fromFull;
  }

  // ---- presence subscription = consent (MIMI-XMPP-04) -------------------------------------------------------

  async #presenceToGhost(stanza: XmlElement, from: Extract<JidClass, { kind: "local" }>, ghost: Extract<JidClass, { kind: "ghost" }>): Promise<void> {
    const { b, ctx, link } = this.#need();
    const type = stanza.attrs.type;
    const subKey = key("sub", from.bare, ghost.bare);
    const sub = (await ctx.store.get<Subscription>(subKey)) ?? { granted: false };
    const consent = (t: "consent.request" | "consent.grant" | "consent.revoke" | "consent.cancel") =>
      b.submit({ type: t, platformEventId: platformEventId(`${t}:${stanza.attrs.id ?? `${Date.now()}-${randomBytes(4).toString("hex")}`}`), sender: platformUserId(from.bare), peer: platformUserId(ghost.bare), timestamp: Date.now() });
    switch (type) {
      case "subscribe": {
        // RFC 6121 §3.1: a subscription request is a MIMI consent request to the remote user.
        if (sub.granted) {
          // §3.1.3: already approved: answer at once.
          await link.sendNow(xml("presence", { from: ghost.bare, to: from.bare, type: "subscribed" }));
          await link.sendNow(xml("presence", { from: this.#ghostFull(ghost.bare), to: from.bare }));
          return;
        }
        const res = await consent("consent.request");
        if (res.status === "rejected") {
          ctx.log.info({ code: res.code }, "xmpp: consent request refused by the core");
          await link.sendNow(xml("presence", { from: ghost.bare, to: from.bare, type: "unsubscribed" }, xml("status", {}, res.message)));
        }
        return;
      }
      case "subscribed": {
        // §3.1.5 approval of the ghost's request → consent.grant.
        const res = await consent("consent.grant");
        if (res.status === "rejected") ctx.log.info({ code: res.code }, "xmpp: consent grant refused by the core");
        return;
      }
      case "unsubscribed": {
        // §3.2 / §3.4: refusing or revoking the ghost's subscription → consent.revoke.
        const res = await consent("consent.revoke");
        if (res.status === "rejected") ctx.log.info({ code: res.code }, "xmpp: consent revoke refused by the core");
        return;
      }
      case "unsubscribe": {
        // §3.3: the user cancels their own subscription or pending request → consent.cancel.
        const res = await consent("consent.cancel");
        if (res.status === "rejected") ctx.log.info({ code: res.code }, "xmpp: consent cancel refused by the core");
        if (sub.granted) await ctx.store.put(subKey, { granted: false });
        return;
      }
      case "probe":
        // RFC 6121 §4.3: the server asks for the ghost's presence on the user's behalf.
        if (sub.granted) await link.sendNow(xml("presence", { from: this.#ghostFull(ghost.bare), to: from.bare }));
        return;
      default:
        return; // directed available/unavailable presence to a ghost: nothing to bridge
    }
  }

  async #grantedPairs(): Promise<{ local: string; ghost: string }[]> {
    const { ctx } = this.#need();
    const out: { local: string; ghost: string }[] = [];
    for (const row of await ctx.store.list<Subscription>("sub/")) {
      if (row.value.granted !== true) continue;
      const [, local, ghost] = row.key.split("/").map((p) => decodeURIComponent(p));
      if (local !== undefined && ghost !== undefined) out.push({ local, ghost });
    }
    return out;
  }

  async handleMimiConsentRequest(request: MimiConsentRequest): Promise<void> {
    const { link } = this.#need();
    // MIMI-XMPP-04: the remote user's consent request → a subscription request from the ghost (XEP-0172 nick).
    await link.enqueue(
      xml(
        "presence",
        { from: request.requesterGhost, to: request.target, type: "subscribe", id: `sub-${sha256Hex(`${request.requester}\0${request.target}\0${request.roomId ?? ""}`).slice(0, 16)}` },
        xml("nick", { xmlns: NS.nick }, nickOf(request.requester)),
        xml("status", {}, `MIMI contact request from ${request.requester}${request.roomId === undefined ? "" : ` for ${request.roomId}`}`),
      ),
    );
  }

  async handleMimiConsentChange(change: MimiConsentChange): Promise<void> {
    const { link, ctx } = this.#need();
    const subKey = key("sub", change.target, change.peerGhost);
    if (change.change === "granted") {
      await ctx.store.put(subKey, { granted: true });
      await link.enqueue(xml("presence", { from: change.peerGhost, to: change.target, type: "subscribed" }));
      await link.enqueue(xml("presence", { from: this.#ghostFull(change.peerGhost), to: change.target }));
    } else {
      await ctx.store.put(subKey, { granted: false });
      await link.enqueue(xml("presence", { from: change.peerGhost, to: change.target, type: "unsubscribed" }));
      await link.enqueue(xml("presence", { from: this.#ghostFull(change.peerGhost), to: change.target, type: "unavailable" }));
    }
  }

  // ---- MIMI → XMPP dispatch ------------------------------------------------------------------------------------

  #kindOf(room: PlatformRoomId): Delivering {
    const { ids } = this.#need();
    if (room.startsWith("chat:")) {
      if (ids.parseChatRoom(room) === undefined) throw new MimiError("MIMI_ERR_XMPP_BAD_ADDRESS", `not a chat portal of this adapter: ${room}`, { details: { room } });
      return "chat";
    }
    const jid = tryParseJid(room);
    const c = jid === undefined ? undefined : ids.classify(jid);
    if (c?.kind === "room" && jid?.resourcepart === undefined) return "muc";
    if (c?.kind === "serverMuc" && jid?.resourcepart === undefined) return "bridged";
    throw new MimiError("MIMI_ERR_XMPP_BAD_ADDRESS", `not a platform room of this adapter: ${room}`, { details: { room } });
  }

  #chatPair(room: PlatformRoomId): { local: PlatformUserId; ghost: PlatformUserId } {
    const pair = this.#need().ids.parseChatRoom(room);
    if (pair === undefined) throw new MimiError("MIMI_ERR_XMPP_BAD_ADDRESS", `not a chat portal: ${room}`);
    return pair;
  }

  /** Durable one-to-one delivery from the ghost, idempotent per stanza id. */
  async #chatDeliver(room: PlatformRoomId, id: string, ts: number, children: XmlElement[]): Promise<void> {
    const { ctx, link, ids } = this.#need();
    const { local, ghost } = this.#chatPair(room);
    const marker = key("sent", room, id);
    if ((await ctx.store.get<number>(marker)) !== undefined) return;
    const late = Date.now() - ts > LATE_MS || !link.online;
    await link.enqueue(xml("message", { from: this.#ghostFull(ghost), to: local, type: "chat", id }, ...children, late ? delayElement(ts, ids.componentDomain) : undefined));
    await ctx.store.put(marker, Date.now());
  }

  async handleMimiMessage(message: MimiMessage): Promise<DeliveryResult> {
    const kind = this.#kindOf(message.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") return muc.handleMessage(message);
    if (kind === "bridged") return bridged.handleMessage(message);
    return this.#serial.run(`out:${message.room}`, async () => {
      const id = stanzaIdFor(message.messageId);
      await this.#chatDeliver(message.room, id, message.timestamp, contentChildren({ text: message.text, replyTo: message.replyTo, thread: message.thread, attachments: message.attachments }, id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleMimiEdit(edit: MimiEdit): Promise<DeliveryResult> {
    const kind = this.#kindOf(edit.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") return muc.handleEdit(edit);
    if (kind === "bridged") return bridged.handleEdit(edit);
    return this.#serial.run(`out:${edit.room}`, async () => {
      const id = stanzaIdFor(edit.messageId);
      await this.#chatDeliver(edit.room, id, edit.timestamp, correctionChildren(edit.target, edit.text, id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleMimiRetraction(retraction: MimiRetraction): Promise<void> {
    const kind = this.#kindOf(retraction.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") return muc.handleRetraction(retraction);
    if (kind === "bridged") return bridged.handleRetraction(retraction);
    await this.#serial.run(`out:${retraction.room}`, async () => {
      const id = stanzaIdFor(retraction.messageId);
      await this.#chatDeliver(retraction.room, id, retraction.timestamp, retractionChildren(retraction.target, id));
    });
  }

  async #chatReaction(r: MimiReaction, add: boolean): Promise<DeliveryResult> {
    const { ctx } = this.#need();
    return this.#serial.run(`out:${r.room}`, async () => {
      const setKey = key("mreact", r.room, r.sender.platformUser, r.target);
      const set = new Set((await ctx.store.get<string[]>(setKey)) ?? []);
      if (add) set.add(r.reaction);
      else set.delete(r.reaction);
      await ctx.store.put(setKey, [...set]);
      const id = stanzaIdFor(r.messageId, add ? "" : "remove");
      await this.#chatDeliver(r.room, id, r.timestamp, reactionChildren(r.target, [...set], id));
      return { platformEventId: platformEventId(id) };
    });
  }

  async handleMimiReaction(reaction: MimiReaction): Promise<DeliveryResult> {
    const kind = this.#kindOf(reaction.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") return muc.handleReaction(reaction, true);
    if (kind === "bridged") return bridged.handleReaction(reaction, true);
    return this.#chatReaction(reaction, true);
  }

  async handleMimiReactionRemove(reaction: MimiReaction): Promise<void> {
    const kind = this.#kindOf(reaction.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") await muc.handleReaction(reaction, false);
    else if (kind === "bridged") await bridged.handleReaction(reaction, false);
    else await this.#chatReaction(reaction, false);
  }

  async handleMimiRoomMetadata(metadata: MimiRoomMetadata): Promise<void> {
    const kind = this.#kindOf(metadata.room);
    const { muc, bridged } = this.#need();
    if (kind === "muc") return muc.handleMetadata(metadata);
    if (kind === "bridged") return bridged.handleMetadata(metadata);
    // A one-to-one chat has no name or subject on XMPP.
  }

  async handleMimiTyping(typing: MimiTyping): Promise<void> {
    const kind = this.#kindOf(typing.room);
    const { muc, bridged, link } = this.#need();
    if (kind === "muc") return muc.handleTyping(typing);
    if (kind === "bridged") return bridged.handleTyping(typing);
    // MIMI-XMPP-15: XEP-0085 standalone notification (not stored: XEP-0334 no-store).
    const { local, ghost } = this.#chatPair(typing.room);
    await link.sendNow(xml("message", { from: this.#ghostFull(ghost), to: local, type: "chat" }, xml(typing.active ? "composing" : "active", { xmlns: NS.chatStates }), xml("no-store", { xmlns: NS.hints })));
  }

  async handleMimiReadReceipt(receipt: MimiReadReceipt): Promise<void> {
    const kind = this.#kindOf(receipt.room);
    const { muc, bridged, link } = this.#need();
    if (kind === "muc") return muc.handleReadReceipt(receipt);
    if (kind === "bridged") return bridged.handleReadReceipt(receipt);
    // MIMI-XMPP-14: XEP-0333 §3 displayed marker.
    const { local, ghost } = this.#chatPair(receipt.room);
    await link.enqueue(xml("message", { from: this.#ghostFull(ghost), to: local, type: "chat", id: `mk-${sha256Hex(`${receipt.room}\0${receipt.target}`).slice(0, 16)}` }, xml("displayed", { xmlns: NS.markers, id: receipt.target }), xml("store", { xmlns: NS.hints })));
  }

  async handleMimiParticipantChange(change: MimiParticipantChange): Promise<void> {
    const kind = this.#kindOf(change.room);
    const { muc, bridged, ctx } = this.#need();
    if (kind === "muc") return muc.handleParticipantChange(change);
    if (kind === "bridged") return bridged.handleParticipantChange(change);
    ctx.log.debug({ change: change.change }, "xmpp: participant change in a one-to-one chat (nothing to show)");
  }

  /** The component MUC service and the MUC bridge (tests and admin tooling). */
  get mucService(): ComponentMuc {
    return this.#need().muc;
  }

  get bridgedMucs(): BridgedMucs {
    return this.#need().bridged;
  }

  /** A deterministic helper for tests and the core: the platform room of a MIMI room on the component. */
  roomJidFor(roomId: string): PlatformRoomId {
    return this.#need().ids.roomJidFor(roomId);
  }

  chatRoomFor(local: string, ghost: string): PlatformRoomId {
    return platformRoomId(this.#need().ids.chatRoom(local, ghost));
  }
}

function isElement(x: XmlElement | StanzaErrorSpec): x is XmlElement {
  return typeof (x as { name?: unknown }).name === "string" && typeof (x as { toString?: unknown }).toString === "function" && !("condition" in x);
}

function ownBody(el: XmlElement): string | undefined {
  return el.getChildText("body") ?? undefined;
}

function nickOf(mimiUri: string): string {
  const m = /^mimi:\/\/([^/]+)\/u\/(.+)$/.exec(mimiUri);
  if (m === null) return mimiUri;
  try {
    return `${decodeURIComponent(m[2] ?? "")}@${m[1] ?? ""}`;
  } catch {
    return mimiUri;
  }
}
