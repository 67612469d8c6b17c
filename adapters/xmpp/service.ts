// The component as a service: XEP-0030 discovery (MIMI-XMPP-25), XEP-0100 gateway interaction
// (MIMI-XMPP-26), XEP-0050 ad-hoc admin commands (MIMI-XMPP-27), XEP-0092 version and XEP-0199
// ping; and what ghosts answer about themselves.
import { randomBytes } from "node:crypto";
import { isMimiError, platformEventId, platformRoomId, platformUserId, type RoomKindName } from "../../src/adapter/index.ts";
import type { BridgedMucs } from "./bridged.ts";
import { errorForRejection, type BridgeContext } from "./context.ts";
import { tryParseJid } from "./ids.ts";
import type { ComponentMuc } from "./muc.ts";
import { NS, formField, xml, type StanzaErrorSpec, type XmlElement } from "./xml.ts";

export const ADAPTER_VERSION = "0.1.0";

/** What ghosts (remote MIMI users) support, as their disco#info says (XEP-0030 §3.1). */
export const GHOST_FEATURES = [NS.discoInfo, NS.ping, NS.correct, NS.reply, NS.fallback, NS.reactions, NS.retract, NS.markers, NS.chatStates, NS.oob, NS.sid, "urn:xmpp:styling:0"];

const SERVICE_FEATURES = [NS.discoInfo, NS.discoItems, NS.muc, NS.gateway, NS.commands, NS.ping, NS.version, NS.sid, NS.moderate, NS.retract, NS.reactions, NS.correct, NS.reply, NS.markers, NS.chatStates];

export const COMMANDS = {
  bridge: { node: "bridge-muc", name: "Bridge a MUC into MIMI" },
  list: { node: "list-portals", name: "List portals" },
  unbridge: { node: "unbridge", name: "Unbridge a room" },
} as const;

type IqAnswer = XmlElement | null | StanzaErrorSpec;

interface Session {
  readonly node: string;
  readonly from: string;
  readonly expires: number;
}

export class ServiceHandler {
  readonly #b: BridgeContext;
  readonly #muc: ComponentMuc;
  readonly #bridged: BridgedMucs;
  readonly #sessions = new Map<string, Session>();

  constructor(b: BridgeContext, muc: ComponentMuc, bridged: BridgedMucs) {
    this.#b = b;
    this.#muc = muc;
    this.#bridged = bridged;
  }

  isAdmin(bare: string): boolean {
    return this.#b.config.admins.some((a) => {
      const jid = tryParseJid(a);
      return jid !== undefined && `${jid.localpart ?? ""}@${jid.domainpart}` === bare;
    });
  }

  /** IQs to the bare component domain. `local` is the requester's bare JID when it is a local user. */
  async onIq(stanza: XmlElement, fromBare: string, fromFull: string, local: boolean): Promise<IqAnswer> {
    const child = stanza.getChildElements()[0];
    if (child === undefined) return { condition: "bad-request" };
    const type = stanza.attrs.type;
    if (type === "get" && child.is("ping", NS.ping)) return null;
    if (type === "get" && child.is("query", NS.discoInfo)) return this.#discoInfo(child.attrs.node, fromBare);
    if (type === "get" && child.is("query", NS.version)) {
      return xml("query", { xmlns: NS.version }, xml("name", {}, "mimi-bridge XMPP adapter"), xml("version", {}, ADAPTER_VERSION));
    }
    if (!local) return { condition: "forbidden", text: `only users of ${this.#b.config.domain} may use this gateway` };
    if (type === "get" && child.is("query", NS.discoItems)) return this.#discoItems(child.attrs.node, fromBare);
    if (child.is("query", NS.gateway)) return type === "get" ? this.#gatewayPrompt() : this.#gatewayResolve(stanza, child, fromBare);
    if (type === "set" && child.is("command", NS.commands)) return this.#command(child, fromBare, fromFull);
    return { condition: "service-unavailable" };
  }

  // ---- XEP-0030 -----------------------------------------------------------------------------------

  #discoInfo(node: string | undefined, fromBare: string): IqAnswer {
    if (node === undefined) {
      return xml(
        "query",
        { xmlns: NS.discoInfo },
        // XEP-0100 §4 gateway identity; XEP-0045 §6.2 MUC service identity.
        xml("identity", { category: "gateway", type: "mimi", name: "MIMI bridge" }),
        xml("identity", { category: "conference", type: "text", name: "MIMI rooms" }),
        ...SERVICE_FEATURES.map((f) => xml("feature", { var: f })),
      );
    }
    if (node === NS.commands) return xml("query", { xmlns: NS.discoInfo, node }, xml("identity", { category: "automation", type: "command-list", name: "Admin commands" }));
    const cmd = Object.values(COMMANDS).find((c) => c.node === node);
    if (cmd !== undefined && this.isAdmin(fromBare)) {
      return xml("query", { xmlns: NS.discoInfo, node }, xml("identity", { category: "automation", type: "command-node", name: cmd.name }), xml("feature", { var: NS.commands }), xml("feature", { var: NS.dataForms }));
    }
    return { condition: "item-not-found" };
  }

  async #discoItems(node: string | undefined, fromBare: string): Promise<IqAnswer> {
    if (node === NS.commands) {
      // XEP-0050 §2.2: only admins see the admin commands.
      const items = this.isAdmin(fromBare) ? Object.values(COMMANDS).map((c) => xml("item", { jid: this.#b.ids.componentDomain, node: c.node, name: c.name })) : [];
      return xml("query", { xmlns: NS.discoItems, node }, ...items);
    }
    if (node !== undefined) return { condition: "item-not-found" };
    // XEP-0045 §6.3: the rooms this user is a member of (MIMI rooms are not public).
    const rooms = await this.#muc.roomsOf(fromBare);
    return xml("query", { xmlns: NS.discoItems }, ...rooms.map((r) => xml("item", { jid: r.roomJid, name: r.name ?? r.roomJid })));
  }

  // ---- XEP-0100 §6.3 jabber:iq:gateway -----------------------------------------------------------------

  #gatewayPrompt(): XmlElement {
    return xml(
      "query",
      { xmlns: NS.gateway },
      xml("desc", {}, "Enter a MIMI address (mimi://example.com/u/bob), a handle (bob@example.com), a phone number (+15551234567) or an e-mail address (mailto:bob@example.com)"),
      xml("prompt", {}, "MIMI address or phone number"),
    );
  }

  async #gatewayResolve(stanza: XmlElement, query: XmlElement, fromBare: string): Promise<IqAnswer> {
    const text = (query.getChildText("prompt") ?? "").trim();
    if (text.length === 0 || text.length > 512) return { condition: "bad-request", text: "give an address or number in <prompt/>" };
    // A bare phone number is made a tel: URI; everything else goes to the core as typed.
    const q = /^\+[0-9 ()-]{4,30}$/.test(text) ? `tel:${text.replace(/[ ()-]/g, "")}` : text;
    const res = await this.#b.submit({
      type: "identifier.query",
      platformEventId: platformEventId(`gateway:${stanza.attrs.id ?? randomBytes(6).toString("hex")}:${randomBytes(4).toString("hex")}`),
      sender: platformUserId(fromBare),
      query: q,
      timestamp: Date.now(),
    });
    if (res.status === "rejected") return errorForRejection(res);
    const first = res.status === "accepted" ? res.resolved?.[0] : undefined;
    if (first === undefined) return { condition: "item-not-found", text: `no MIMI user found for ${text}` };
    let ghost: string;
    try {
      ghost = this.#b.ids.platformUserFor(first.mimiUri);
    } catch {
      return { condition: "item-not-found", text: `${first.mimiUri} has no XMPP address on this bridge` };
    }
    // XEP-0100 §6.3.2: the result carries <jid/> (and <prompt/> for older clients).
    return xml("query", { xmlns: NS.gateway }, xml("jid", {}, ghost), xml("prompt", {}, ghost));
  }

  // ---- XEP-0050 ad-hoc commands ---------------------------------------------------------------------------

  async #command(command: XmlElement, fromBare: string, fromFull: string): Promise<IqAnswer> {
    const node = command.attrs.node ?? "";
    const known = Object.values(COMMANDS).some((c) => c.node === node);
    if (!known) return { condition: "item-not-found" };
    if (!this.isAdmin(fromBare)) return { condition: "forbidden", text: "admin commands are for the bridge's admins" };
    const now = Date.now();
    for (const [id, s] of this.#sessions) if (s.expires < now) this.#sessions.delete(id);
    const action = command.attrs.action ?? "execute";
    const sessionId = command.attrs.sessionid;
    if (sessionId !== undefined) {
      const s = this.#sessions.get(sessionId);
      // XEP-0050 §4.4: an unknown or foreign session is bad-sessionid.
      if (s === undefined || s.from !== fromFull || s.node !== node) return { condition: "bad-request", app: xml("bad-sessionid", { xmlns: NS.commands }) };
      if (action === "cancel") {
        this.#sessions.delete(sessionId);
        return xml("command", { xmlns: NS.commands, node, sessionid: sessionId, status: "canceled" });
      }
    }
    const form = command.getChild("x", NS.dataForms);
    const submitted = form?.attrs.type === "submit" ? form : undefined;
    const sid = sessionId ?? randomBytes(8).toString("hex");
    if (node === COMMANDS.list.node) return this.#listPortals(node, sid);
    if (submitted === undefined) {
      this.#sessions.set(sid, { node, from: fromFull, expires: now + 10 * 60_000 });
      return this.#formFor(node, sid);
    }
    this.#sessions.delete(sid);
    try {
      if (node === COMMANDS.bridge.node) return await this.#bridge(node, sid, submitted, fromBare);
      return await this.#unbridge(node, sid, submitted);
    } catch (err) {
      const text = isMimiError(err) ? `${err.message} (${err.code})` : "the command failed";
      this.#b.log.warn({ node, err: isMimiError(err) ? err.code : String(err) }, "xmpp: admin command failed");
      return this.#completed(node, sid, "error", text);
    }
  }

  #completed(node: string, sid: string, type: "info" | "warn" | "error", text: string, ...extra: XmlElement[]): XmlElement {
    return xml("command", { xmlns: NS.commands, node, sessionid: sid, status: "completed" }, xml("note", { type }, text), ...extra);
  }

  async #formFor(node: string, sid: string): Promise<XmlElement> {
    const actions = xml("actions", { execute: "complete" }, xml("complete"));
    if (node === COMMANDS.bridge.node) {
      return xml(
        "command",
        { xmlns: NS.commands, node, sessionid: sid, status: "executing" },
        actions,
        xml(
          "x",
          { xmlns: NS.dataForms, type: "form" },
          xml("title", {}, COMMANDS.bridge.name),
          xml("instructions", {}, "The bridge joins the MUC as a bot; make the room non-anonymous (or the bot a moderator) so members' messages can be bridged."),
          xml("field", { var: "muc", type: "jid-single", label: "MUC address" }, xml("required")),
          xml(
            "field",
            { var: "kind", type: "list-single", label: "MIMI room kind" },
            xml("value", {}, "group"),
            xml("option", { label: "Group" }, xml("value", {}, "group")),
            xml("option", { label: "Channel" }, xml("value", {}, "channel")),
          ),
          xml("field", { var: "name", type: "text-single", label: "Room name (default: the MUC's)" }),
        ),
      );
    }
    const portals = await this.#b.core.portals.list();
    return xml(
      "command",
      { xmlns: NS.commands, node, sessionid: sid, status: "executing" },
      actions,
      xml(
        "x",
        { xmlns: NS.dataForms, type: "form" },
        xml("title", {}, COMMANDS.unbridge.name),
        xml(
          "field",
          { var: "room", type: "list-single", label: "Room" },
          xml("required"),
          ...portals.filter((p) => !p.platformRoom.startsWith("chat:")).map((p) => xml("option", { label: `${p.platformRoom} (${p.kind})` }, xml("value", {}, p.platformRoom))),
        ),
      ),
    );
  }

  async #bridge(node: string, sid: string, form: XmlElement, fromBare: string): Promise<XmlElement> {
    const muc = formField(form, "muc")?.trim();
    const kindText = formField(form, "kind") ?? "group";
    const name = formField(form, "name")?.trim();
    if (muc === undefined || muc.length === 0) return this.#completed(node, sid, "error", "give the MUC address");
    if (kindText !== "group" && kindText !== "channel") return this.#completed(node, sid, "error", "kind is group or channel");
    const kind: RoomKindName = kindText;
    const { roomId, warnings } = await this.#bridged.bridge(fromBare, muc, kind, name === undefined || name.length === 0 ? undefined : name);
    this.#b.log.info({ muc, roomId }, "xmpp: MUC bridged into MIMI");
    return this.#completed(node, sid, warnings.length > 0 ? "warn" : "info", [`Bridged ${muc} into ${roomId}`, ...warnings].join(". "));
  }

  async #unbridge(node: string, sid: string, form: XmlElement): Promise<XmlElement> {
    const room = formField(form, "room")?.trim();
    if (room === undefined || room.length === 0) return this.#completed(node, sid, "error", "choose a room");
    const portal = await this.#b.core.portals.byPlatformRoom(platformRoomId(room));
    if (portal === undefined) return this.#completed(node, sid, "error", `${room} is not bridged`);
    await this.#bridged.unbridge(room);
    await this.#muc.destroy(room, "This room was unbridged from MIMI");
    await this.#b.core.portals.unlink(portal.platformRoom);
    this.#b.log.info({ room, roomId: portal.roomId }, "xmpp: room unbridged");
    return this.#completed(node, sid, "info", `Unbridged ${room} from ${portal.roomId}`);
  }

  async #listPortals(node: string, sid: string): Promise<XmlElement> {
    const portals = await this.#b.core.portals.list();
    const bridged = new Set((await this.#bridged.all()).map((s) => s.mucJid));
    const field = (v: string, value: string) => xml("field", { var: v }, xml("value", {}, value));
    const form = xml(
      "x",
      { xmlns: NS.dataForms, type: "result" },
      xml("title", {}, "Portals"),
      xml("reported", {}, xml("field", { var: "room", label: "XMPP room" }), xml("field", { var: "mimi", label: "MIMI room" }), xml("field", { var: "kind", label: "Kind" }), xml("field", { var: "type", label: "Type" })),
      ...portals.map((p) =>
        xml(
          "item",
          {},
          field("room", p.platformRoom),
          field("mimi", p.roomId),
          field("kind", p.kind),
          field("type", p.platformRoom.startsWith("chat:") ? "chat" : bridged.has(p.platformRoom) ? "bridged MUC" : "component MUC"),
        ),
      ),
    );
    return this.#completed(node, sid, "info", `${portals.length} portal(s)`, form);
  }
}
