// The Matrix side of the adapter conformance suite: a real Synapse (test/helpers/synapse.ts) with
// the adapter's generated registration, and real Matrix users on it (test/helpers/matrixClient.ts,
// plain client-server API calls with a /sync loop), the adapter running inside provider a.example.
//
// How the platform gestures are made (what a Matrix client would do):
//   - a group bridged into MIMI: the user creates a room inviting the bridge bot (the bot joins on
//     invite), sends `!mimi bridge` and waits for the bot's "Bridged" notice, then invites the
//     ghosts of the MIMI users (MIMI-MATRIX-04);
//   - a MIMI room brought in from MIMI: the adapter creates a room (alias #_mimi_room_…) and
//     invites the user; clients here join every invite (as a user accepting it would);
//   - IDs are Matrix event IDs; a resend is the same PUT with the same txnId (Synapse answers
//     with the first event ID and creates nothing);
//   - threads: an m.thread relation to the root event (with the reply fallback clients send);
//   - files: uploaded to Synapse's media repository, sent as m.file/m.image with the mxc:// URI;
//     MIMI sees the homeserver's authenticated media URL of it;
//   - moderation: POST /kick and /ban.
// What a user "sees" is its /sync timeline of the room, normalised to the suite's `Seen`.
import { join } from "node:path";
import { platformEventId, platformRoomId, type PlatformRoomId } from "../../../src/adapter/index.ts";
import type { Adapter } from "../../../src/adapter/adapter.ts";
import type { Provider } from "../../../src/provider.ts";
import { generateRegistration, writeRegistrationFile } from "../../../adapters/matrix/registration.ts";
import type { MatrixAdapter } from "../../../adapters/matrix/adapter.ts";
import { until } from "../../helpers/acceptance.ts";
import { clientFor, newTxnId, type MatrixClient, type MatrixEvent } from "../../helpers/matrixClient.ts";
import { freePort, tempDir } from "../../helpers/processes.ts";
import { startSynapse, type SynapseServer } from "../../helpers/synapse.ts";
import { type ConsentSeen, type PlatformDriver, type Seen } from "../conformance.ts";

export const MATRIX_SERVER_NAME = "hs.localhost";
export const BOT_LOCALPART = "mimi-bridge";


export function matrixAdapterOf(provider: Provider): MatrixAdapter {
  const a = provider.bridge?.adapter("matrix");
  if (a === undefined) throw new Error("the Matrix adapter is not running in this provider");
  return a as MatrixAdapter;
}

const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/** Reply fallback (`> <@x> …` lines and the blank line after them) stripped from a body. */
function stripFallback(body: string): string {
  const lines = body.split("\n");
  let i = 0;
  while (i < lines.length && lines[i]!.startsWith("> ")) i++;
  if (i > 0 && lines[i] === "") i++;
  return i > 0 ? lines.slice(i).join("\n") : body;
}

/** A user's timeline of a room as the suite's `Seen`. */
export function seenOf(timeline: readonly MatrixEvent[], mimiOf: (mxid: string) => string): Seen[] {
  const out: Seen[] = [];
  const reactions = new Map<string, { target: string; key: string; from: string }>();
  const joined = new Set<string>();
  for (const ev of timeline) {
    const from = mimiOf(ev.sender);
    const rel = obj(ev.content["m.relates_to"]);
    if (ev.type === "m.room.message") {
      if (typeof ev.content.body !== "string") continue; // redacted
      if (rel?.rel_type === "m.replace" && typeof rel.event_id === "string") {
        const nc = obj(ev.content["m.new_content"]);
        out.push({ kind: "edit", target: platformEventId(rel.event_id), from, text: typeof nc?.body === "string" ? nc.body : ev.content.body });
        continue;
      }
      // A thread event's m.in_reply_to with is_falling_back is only for clients without threads.
      const thread = rel?.rel_type === "m.thread" && typeof rel.event_id === "string" ? rel.event_id : undefined;
      const inReplyTo = obj(rel?.["m.in_reply_to"])?.event_id;
      const replyTo = thread !== undefined && rel?.is_falling_back === true ? undefined : inReplyTo;
      const url = ev.content.url;
      const info = obj(ev.content.info);
      const media = typeof url === "string" && ["m.image", "m.file", "m.audio", "m.video"].includes(String(ev.content.msgtype));
      const filename = typeof ev.content.filename === "string" ? ev.content.filename : ev.content.body;
      out.push({
        kind: "message",
        id: platformEventId(ev.event_id ?? ""),
        from,
        text: typeof replyTo === "string" ? stripFallback(ev.content.body) : ev.content.body,
        ...(typeof replyTo === "string" ? { replyTo: platformEventId(replyTo) } : {}),
        ...(thread === undefined ? {} : { thread }),
        ...(media ? { attachments: [{ url, filename, ...(typeof info?.mimetype === "string" ? { contentType: info.mimetype } : {}) }] } : {}),
      });
    } else if (ev.type === "m.reaction" && rel?.rel_type === "m.annotation" && typeof rel.event_id === "string" && typeof rel.key === "string") {
      reactions.set(ev.event_id ?? "", { target: rel.event_id, key: rel.key, from });
      out.push({ kind: "reaction", target: platformEventId(rel.event_id), from, reaction: rel.key });
    } else if (ev.type === "m.room.redaction") {
      const target = typeof ev.redacts === "string" ? ev.redacts : typeof ev.content.redacts === "string" ? ev.content.redacts : undefined;
      if (target === undefined) continue;
      const r = reactions.get(target);
      if (r !== undefined) out.push({ kind: "unreact", target: platformEventId(r.target), from, reaction: r.key });
      else out.push({ kind: "retract", target: platformEventId(target), from });
    } else if (ev.type === "m.room.topic" && typeof ev.content.topic === "string") {
      out.push({ kind: "metadata", topic: ev.content.topic });
    } else if (ev.type === "m.room.name" && typeof ev.content.name === "string") {
      out.push({ kind: "metadata", name: ev.content.name });
    } else if (ev.type === "m.room.member" && ev.state_key !== undefined) {
      const m = ev.content.membership;
      const user = mimiOf(ev.state_key);
      if (m === "join" && !joined.has(ev.state_key)) {
        joined.add(ev.state_key);
        out.push({ kind: "participant", change: "added", user });
      } else if (m === "invite") {
        out.push({ kind: "participant", change: "added", user });
      } else if (m === "leave") {
        joined.delete(ev.state_key);
        out.push({ kind: "participant", change: ev.sender === ev.state_key ? "left" : "removed", user });
      } else if (m === "ban") {
        joined.delete(ev.state_key);
        out.push({ kind: "participant", change: "banned", user });
      }
    }
  }
  return out;
}

export interface MatrixDriver extends PlatformDriver {
  client(name: string): MatrixClient;
  synapse(): SynapseServer;
  /** The Matrix room ID behind a platform room. */
  matrixRoom(room: string): Promise<string>;
}

/** `synapseConfig`: homeserver.yaml keys merged over the harness's (e.g. enable_registration). */
export function matrixDriver(o: { synapseConfig?: Record<string, unknown> } = {}): MatrixDriver {
  let synapse: SynapseServer | undefined;
  let provider: Provider | undefined;
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  const clients = new Map<string, MatrixClient>();
  const joiners = new Map<string, ReturnType<typeof setInterval>>();
  /** Consent prompts (is_direct invites from ghosts) per user: room ID → the ghost. */
  const prompts = new Map<string, Map<string, string>>();
  const rooms = new Map<string, string>();
  /** Sent events: event ID → the txnId and content (for resends). */
  const sent = new Map<string, { txnId: string; content: Record<string, unknown> }>();
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`${what} is not ready`);
    return v;
  };
  const clientOf = (name: string) => need(clients.get(name), `Matrix user ${name}`);
  const adapter = () => matrixAdapterOf(need(provider, "the provider"));
  const adapterOrUndefined = () => (provider === undefined ? undefined : provider.bridge?.adapter("matrix"));
  const mimiOf = (mxid: string): string => adapter().parseGhost(mxid as never) ?? adapter().toMimiUri(mxid as never) ?? mxid;
  const mxidOf = (mimiUri: string): string => adapter().localUserFor(mimiUri) ?? adapter().ghostFor(mimiUri);
  const botId = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;

  const matrixRoom = async (room: string): Promise<string> => {
    if (room.startsWith("!")) return room;
    const known = rooms.get(room);
    if (known !== undefined) return known;
    const c = need(clients.values().next().value, "a Matrix client");
    const r = await c.request<{ room_id: string }>("GET", `/_matrix/client/v3/directory/room/${encodeURIComponent(room)}`);
    rooms.set(room, r.room_id);
    return r.room_id;
  };

  return {
    client: clientOf,
    synapse: () => need(synapse, "Synapse"),
    matrixRoom,
    async providerConfig() {
      dir = await tempDir("matrix-as");
      const port = await freePort();
      const registration = generateRegistration({ url: `http://127.0.0.1:${port}`, domain: MATRIX_SERVER_NAME, ghostPrefix: "_mimi_", botLocalpart: BOT_LOCALPART });
      const registrationFile = join(dir.path, "registration.yaml");
      await writeRegistrationFile(registrationFile, registration);
      synapse = await startSynapse({ serverName: MATRIX_SERVER_NAME, appServiceConfigFiles: [registrationFile], ...(o.synapseConfig === undefined ? {} : { extraConfig: o.synapseConfig }) });
      return {
        adapters: {
          matrix: {
            homeserverUrl: synapse.url,
            domain: MATRIX_SERVER_NAME,
            registrationFile,
            listen: { host: "127.0.0.1", port },
            ghostPrefix: "_mimi_",
            botLocalpart: BOT_LOCALPART,
          },
        },
      };
    },
    async connect(p, names) {
      provider = p;
      const s = need(synapse, "Synapse");
      for (const name of names) {
        if (clients.has(name)) continue;
        const user = await s.registerUser(name);
        const c = clientFor(s.url, user);
        clients.set(name, c);
        await c.startSync();
        // A user who accepts every invite (as the XMPP driver's clients auto-join MUC invitations).
        // A DM invite from a ghost is a consent prompt (MIMI-MATRIX-03): it is answered by
        // grantConsent/revokeConsent (or joined by roomOf when it is a portal), never automatically.
        const tried = new Set<string>();
        const mine = new Map<string, string>();
        prompts.set(name, mine);
        joiners.set(
          name,
          setInterval(() => {
            for (const [roomId, state] of c.invites) {
              if (tried.has(roomId)) continue;
              const invite = state.find((e) => e.type === "m.room.member" && e.state_key === c.userId);
              const ghost = invite === undefined ? undefined : adapterOrUndefined()?.parseGhost(invite.sender as never);
              if (invite !== undefined && ghost !== undefined && invite.content.is_direct === true) {
                if (!mine.has(roomId)) mine.set(roomId, invite.sender);
                continue;
              }
              tried.add(roomId);
              void c.join(roomId).catch(() => tried.delete(roomId));
            }
          }, 200),
        );
      }
      await until(() => p.bridge?.status()["matrix"] === "connected", "the Matrix adapter is connected", 60_000);
    },
    adapter: (p): Adapter => matrixAdapterOf(p),
    async bridgeGroup(user, name, invite) {
      const c = clientOf(user);
      // The operator's documented step: the bot gets power level 100 (moderation and metadata from
      // MIMI). The creator is not listed: room version 12 creators have unlimited power (MSC4289).
      const roomId = await c.createRoom({ name, preset: "private_chat", invite: [botId], power_level_content_override: { users: { [botId]: 100 } } });
      await c.waitForMembership(roomId, botId, "join", 60_000);
      await c.sendMessage(roomId, "!mimi bridge");
      const answer = await c.waitForEvent(roomId, (e) => e.sender === botId && e.type === "m.room.message" && typeof e.content.body === "string" && /^(Bridged|Bridging failed)/.test(e.content.body), "the bot's answer to !mimi bridge", 60_000);
      if (!String(answer.content.body).startsWith("Bridged")) throw new Error(`bridging failed: ${String(answer.content.body)}`);
      for (const mimiUri of invite) await c.invite(roomId, mxidOf(mimiUri));
      return platformRoomId(roomId);
    },
    async roomOf(user, roomId) {
      const c = clientOf(user);
      const portals = need(provider, "the provider").bridge?.portals("matrix");
      let room: string | undefined;
      await until(async () => {
        room = (await portals?.byRoom(roomId))?.platformRoom;
        return room !== undefined;
      }, `a portal for ${roomId}`, 60_000);
      const r = need(room, "the room");
      let mx: string | undefined;
      await until(async () => {
        mx = await matrixRoom(r).catch(() => undefined);
        return mx !== undefined;
      }, `the Matrix room of ${r}`, 60_000);
      const mxRoom = need(mx, "the Matrix room");
      // Join the portal (a DM from a ghost is not auto-joined; see connect).
      let lastError = "";
      await until(
        async () => {
          if (c.membership(mxRoom, c.userId) === "join") return true;
          // The homeserver's word (the sync view's member state can lag behind a join).
          const joined = await c.request<{ joined_rooms: string[] }>("GET", "/_matrix/client/v3/joined_rooms").catch(() => ({ joined_rooms: [] as string[] }));
          if (joined.joined_rooms.includes(mxRoom)) return true;
          if (c.invites.has(mxRoom)) {
            await c.join(mxRoom).catch((err: unknown) => (lastError = String(err)));
            await new Promise((r) => setTimeout(r, 200));
          }
          return false;
        },
        `${user} joins ${r}`,
        60_000,
        () => `membership ${c.membership(mxRoom, c.userId) ?? "none"}; invited: ${c.invites.has(mxRoom)}; rooms: ${[...c.rooms.keys()].join(",")}; invites: ${[...c.invites.keys()].join(",")}; room ${mxRoom}; last join error: ${lastError}`,
      );
      prompts.get(user)?.delete(mxRoom);
      return platformRoomId(r);
    },
    async send(user, room, text, options = {}) {
      const c = clientOf(user);
      const roomId = await matrixRoom(room);
      const txnId = newTxnId();
      const content: Record<string, unknown> = { msgtype: "m.text", body: text, ...(options.replyTo === undefined ? {} : { "m.relates_to": { "m.in_reply_to": { event_id: options.replyTo } } }) };
      const id = await c.sendEvent(roomId, "m.room.message", content, txnId);
      sent.set(id, { txnId, content });
      return platformEventId(id);
    },
    async sendThreaded(user, room, root, text) {
      const c = clientOf(user);
      return platformEventId(await c.thread(await matrixRoom(room), root, text));
    },
    async sendAttachment(user, room, file) {
      const c = clientOf(user);
      const s = need(synapse, "Synapse");
      const mxc = await c.upload(file.data, file.contentType, file.filename);
      const msgtype = file.contentType.startsWith("image/") ? "m.image" : "m.file";
      // Spec v1.10 captions: `filename` names the file, `body` is the caption when there is one.
      const content = { msgtype, body: file.caption ?? file.filename, filename: file.filename, url: mxc, info: { mimetype: file.contentType, size: file.data.byteLength } };
      const id = await c.sendEvent(await matrixRoom(room), "m.room.message", content);
      const [server, mediaId] = mxc.slice("mxc://".length).split("/");
      const mimiUrl = `${s.url.replace(/\/+$/, "")}/_matrix/client/v1/media/download/${encodeURIComponent(server ?? "")}/${mediaId ?? ""}`;
      // The URL MIMI users get must serve the file (to a client with a token of this homeserver).
      const got = await c.download(mimiUrl);
      if (got.status !== 200 || Buffer.compare(Buffer.from(got.data), Buffer.from(file.data)) !== 0) throw new Error(`${mimiUrl} did not serve the uploaded file (HTTP ${got.status})`);
      return { id: platformEventId(id), platformUrl: mxc, mimiUrl };
    },
    async resend(user, room, id) {
      const c = clientOf(user);
      const s = need(sent.get(id), `the sent event ${id}`);
      const again = await c.sendEvent(await matrixRoom(room), "m.room.message", s.content, s.txnId);
      if (again !== id) throw new Error(`Synapse gave the resend a new event ID (${again} ≠ ${id})`);
    },
    async edit(user, room, target, text) {
      await clientOf(user).edit(await matrixRoom(room), target, text);
    },
    async react(user, room, target, reaction) {
      await clientOf(user).react(await matrixRoom(room), target, reaction);
    },
    async retract(user, room, target) {
      await clientOf(user).redact(await matrixRoom(room), target);
    },
    async moderate(user, room, target, action) {
      const c = clientOf(user);
      const roomId = await matrixRoom(room);
      const mxid = mxidOf(target);
      if (action === "ban") await c.ban(roomId, mxid);
      else {
        await c.waitForMembership(roomId, mxid, "join", 60_000);
        await c.kick(roomId, mxid);
      }
    },
    async markRead(user, room, target) {
      await clientOf(user).sendReceipt(await matrixRoom(room), target);
    },
    async setTopic(user, room, topic) {
      await clientOf(user).setRoomTopic(await matrixRoom(room), topic);
    },
    // MIMI-MATRIX-03: a DM invite (is_direct) to the ghost is the request; the ghost's DM invite is
    // the prompt, joining it the grant, leaving (or rejecting) it the revoke.
    async requestConsent(user, peer) {
      await clientOf(user).createRoom({ preset: "trusted_private_chat", is_direct: true, invite: [mxidOf(peer)] });
    },
    async grantConsent(user, peer) {
      const c = clientOf(user);
      const ghost = mxidOf(peer);
      const roomId = await c.waitFor(() => [...(prompts.get(user) ?? new Map<string, string>())].find(([, g]) => g === ghost)?.[0], `a consent prompt from ${ghost}`, 30_000);
      await c.join(roomId);
    },
    async revokeConsent(user, peer) {
      const c = clientOf(user);
      const ghost = mxidOf(peer);
      const roomId = [...(prompts.get(user) ?? new Map<string, string>())].find(([, g]) => g === ghost)?.[0];
      if (roomId === undefined) throw new Error(`${user} has no DM with ${ghost}`);
      await c.leave(roomId);
    },
    consentSeen(user) {
      const c = clientOf(user);
      const out: ConsentSeen[] = [];
      for (const ghost of (prompts.get(user) ?? new Map<string, string>()).values()) {
        const uri = mimiOf(ghost);
        out.push({ from: uri, kind: "request" });
      }
      // DMs the user opened with a ghost: the ghost joining is the grant, leaving the revoke.
      for (const view of c.rooms.values()) {
        const asked = new Set(view.timeline.filter((e) => e.type === "m.room.member" && e.sender === c.userId && e.content.membership === "invite" && e.content.is_direct === true).map((e) => e.state_key ?? ""));
        for (const e of view.timeline) {
          if (e.type !== "m.room.member" || e.state_key === undefined || !asked.has(e.state_key) || e.sender !== e.state_key) continue;
          if (e.content.membership === "join") out.push({ from: mimiOf(e.state_key), kind: "grant" });
          else if (e.content.membership === "leave") out.push({ from: mimiOf(e.state_key), kind: "revoke" });
        }
      }
      return out;
    },
    seen(user, room: PlatformRoomId) {
      const c = clientOf(user);
      const roomId = room.startsWith("!") ? room : rooms.get(room);
      if (roomId === undefined) return [];
      const view = c.rooms.get(roomId);
      const receipts: Seen[] = [];
      for (const e of view?.ephemeral ?? []) {
        if (e.type !== "m.receipt") continue;
        for (const [eventId, byType] of Object.entries(e.content)) {
          const read = (byType as Record<string, unknown> | null)?.["m.read"];
          if (typeof read === "object" && read !== null) for (const u of Object.keys(read)) if (u !== c.userId) receipts.push({ kind: "receipt", target: platformEventId(eventId), from: mimiOf(u) });
        }
      }
      return [...seenOf(view?.timeline ?? [], mimiOf), ...receipts];
    },
    async close() {
      for (const t of joiners.values()) clearInterval(t);
      joiners.clear();
      for (const c of clients.values()) await c.stop().catch(() => undefined);
      clients.clear();
      await synapse?.dispose();
      synapse = undefined;
      await dir?.remove();
    },
  };
}
