// Acceptance of issue 6 (second bullet): a Matrix user (the Matrix adapter in a.example, a real
// Synapse), an XMPP user (the XMPP adapter in d.example, a real Prosody) and a native MIMI user
// (SDK client on b.example) share one MIMI room, and every message reaches the other two, once,
// with the right sender. The room is hosted by a.example (a Matrix room bridged with
// `!mimi bridge`); the XMPP user sees it as a MUC on the XMPP adapter's component.
//
//   MIMI-MATRIX-34 Matrix, XMPP and native MIMI users in one room across three providers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { platformUserId } from "../../../src/adapter/index.ts";
import { messagesOf, until, waitForEvent } from "../../helpers/acceptance.ts";
import type { ProsodyServer } from "../../helpers/prosody.ts";
import type { Seen } from "../conformance.ts";
import { XmppUser, startXmppServer, xmppAdapterOf, xmppProviderConfig } from "../xmpp/driver.ts";
import { xml } from "../xmpp/harness.ts";
import { A, BOT_ID, isMessage, startMatrixWorld } from "./world.ts";

const B = "b.example";
/** The provider running the XMPP adapter. */
const D = "d.example";

test("MIMI-MATRIX-34 acceptance: a Matrix user, an XMPP user (XMPP adapter on another provider) and a native MIMI user share one MIMI room; every message reaches the other two once, with the right sender", async () => {
  const server: ProsodyServer = await startXmppServer();
  const xmppUsers: XmppUser[] = [];
  const w = await startMatrixWorld({
    matrixUsers: ["alice"],
    domains: [A, B, D],
    extraConfig: (d) => (d === D ? xmppProviderConfig(server) : {}),
    onStop: async () => {
      for (const u of xmppUsers) await u.stop();
      await server.dispose();
    },
  });
  try {
    const d = w.provider(D);
    await until(() => d.bridge?.status()["xmpp"] === "connected", "the XMPP adapter is connected", 60_000);
    const xmppAdapter = xmppAdapterOf(d);
    const erin = new XmppUser(server, "erin");
    xmppUsers.push(erin);
    await erin.start();
    const erinUri = xmppAdapter.toMimiUri(platformUserId(erin.bare));
    assert.equal(erinUri, `mimi://${D}/u/erin`);
    const aliceUri = w.uriOf("alice");
    const bob = await w.native(B, "bob");
    /** A JID erin sees → the MIMI user it shows (erin herself or a ghost on the component). */
    const mimiOfJid = (jid: string): string => xmppAdapter.parseGhost(platformUserId(jid)) ?? xmppAdapter.toMimiUri(platformUserId(jid)) ?? jid;

    // erin becomes a MIMI user (KeyPackages of her hosted client) by her first gesture through the
    // bridge: she looks bob up through the gateway (XEP-0100 §6.3). alice's is bridging her room.
    await erin.client.iq(xml("iq", { type: "set", to: server.componentDomain }, xml("query", { xmlns: "jabber:iq:gateway" }, xml("prompt", {}, "bob@b.example"))));
    const room = await w.driver.bridgeGroup("alice", "three networks", [bob.uri, erinUri]);
    const roomId = (await waitForEvent(bob, (e) => e.type === "joined", "bob is added", 60_000)).roomId;
    // d.example shows the room as a MUC on its component; erin gets an invitation and enters it.
    let muc = "";
    await until(
      async () => {
        muc = (await d.bridge?.portals("xmpp")?.byRoom(roomId))?.platformRoom ?? "";
        return muc !== "" && erin.inRoom(muc);
      },
      "erin was invited into the room's MUC and entered it",
      60_000,
    );
    await w.sees("alice", room, "participant", (s) => s.user === erinUri && s.change === "added", "erin's ghost join");
    await w.sees("alice", room, "participant", (s) => s.user === bob.uri && s.change === "added", "bob's ghost join");
    const erinSeen = (): Seen[] => erin.seen(muc, mimiOfJid);
    const erinSees = async (text: string, what: string): Promise<Extract<Seen, { kind: "message" }>> => {
      let hit: Extract<Seen, { kind: "message" }> | undefined;
      await until(
        () => {
          hit = erinSeen().find((s): s is Extract<Seen, { kind: "message" }> => s.kind === "message" && s.text === text);
          return hit !== undefined;
        },
        `erin sees ${what}`,
        60_000,
        () => JSON.stringify(erinSeen()).slice(-800),
      );
      assert.ok(hit !== undefined);
      return hit;
    };

    // From Matrix.
    await w.driver.send("alice", room, "hello from Matrix");
    assert.equal((await isMessage(bob, (m) => m.text === "hello from Matrix", "bob reads alice")).sender.user, aliceUri);
    assert.equal((await erinSees("hello from Matrix", "alice's message")).from, aliceUri);
    // From MIMI.
    await bob.client.send(roomId, "hello from MIMI");
    assert.equal((await w.sees("alice", room, "message", (s) => s.text === "hello from MIMI", "bob's message")).from, bob.uri);
    assert.equal((await erinSees("hello from MIMI", "bob's message")).from, bob.uri);
    // From XMPP.
    await erin.send(muc, "hello from XMPP");
    assert.equal((await isMessage(bob, (m) => m.text === "hello from XMPP", "bob reads erin")).sender.user, erinUri);
    assert.equal((await w.sees("alice", room, "message", (s) => s.text === "hello from XMPP", "erin's message")).from, erinUri);

    // Exactly once each, with the right sender (a last round as a marker that all has arrived).
    await w.driver.send("alice", room, "end from Matrix");
    await bob.client.send(roomId, "end from MIMI");
    await erin.send(muc, "end from XMPP");
    await isMessage(bob, (m) => m.text === "end from Matrix", "bob reads alice's last message");
    await isMessage(bob, (m) => m.text === "end from XMPP", "bob reads erin's last message");
    await w.sees("alice", room, "message", (s) => s.text === "end from MIMI", "bob's last message");
    await w.sees("alice", room, "message", (s) => s.text === "end from XMPP", "erin's last message");
    await erinSees("end from Matrix", "alice's last message");
    await erinSees("end from MIMI", "bob's last message");
    const sorted = (xs: string[]) => [...xs].sort();
    assert.deepEqual(
      sorted(messagesOf(bob, roomId).map((m) => `${m.sender.user} ${m.text}`)),
      sorted([`${aliceUri} hello from Matrix`, `${erinUri} hello from XMPP`, `${aliceUri} end from Matrix`, `${erinUri} end from XMPP`]),
      "bob: alice's and erin's messages, once each",
    );
    assert.deepEqual(
      sorted(w.seen("alice", room).flatMap((s) => (s.kind === "message" && s.from !== aliceUri && s.from !== BOT_ID ? [`${s.from} ${s.text}`] : []))),
      sorted([`${bob.uri} hello from MIMI`, `${erinUri} hello from XMPP`, `${bob.uri} end from MIMI`, `${erinUri} end from XMPP`]),
      "alice: bob's and erin's messages, once each",
    );
    assert.deepEqual(
      sorted(erinSeen().flatMap((s) => (s.kind === "message" && s.from !== erinUri ? [`${s.from} ${s.text}`] : []))),
      sorted([`${aliceUri} hello from Matrix`, `${bob.uri} hello from MIMI`, `${aliceUri} end from Matrix`, `${bob.uri} end from MIMI`]),
      "erin: alice's and bob's messages, once each",
    );
  } finally {
    await w.stop();
  }
});
