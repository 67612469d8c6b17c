// Hostile and malformed server-to-server requests against a real provider over mutual TLS:
// each gets a typed answer and changes nothing (DESIGN.md §7).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startNetwork } from "../helpers/providers.ts";

const json = (body: Uint8Array) => JSON.parse(Buffer.from(body).toString("utf8")) as { code: string };

test("garbage, oversized and misdirected protocol requests get typed errors", async () => {
  const net = await startNetwork(["a.example", "b.example"]);
  try {
    const b = net.providers["b.example"]!;
    const a = net.providers["a.example"]!;
    const garbage = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x00, 0x01]);

    for (const endpoint of ["update", "submitMessage", "groupInfo"] as const) {
      // A room this hub does not host.
      const missing = await b.peerClient.request("a.example", endpoint, { roomId: "a.example/r/nope" }, { body: garbage });
      assert.ok(missing.status === 400 || missing.status === 404, `${endpoint}: ${missing.status}`);
      assert.match(json(missing.body).code, /^MIMI_ERR_(CODEC|ROOM)_/, endpoint);
      // A room of another provider: this provider is not its hub.
      const elsewhere = await b.peerClient.request("a.example", endpoint, { roomId: "c.example/r/x" }, { body: garbage });
      assert.equal(elsewhere.status, 404, endpoint);
      assert.equal(json(elsewhere.body).code, "MIMI_ERR_ROOM_NOT_FOUND");
    }

    // /notify for a room hosted by A itself: nobody notifies the hub.
    const selfNotify = await b.peerClient.request("a.example", "notify", { roomId: "a.example/r/x" }, { body: garbage });
    assert.equal(selfNotify.status, 403);
    // /notify from a provider that is not the room's hub.
    const notHub = await b.peerClient.request("a.example", "notify", { roomId: "c.example/r/x" }, { body: garbage });
    assert.equal(notHub.status, 403);
    assert.equal(json(notHub.body).code, "MIMI_ERR_CLIENT_FORBIDDEN");
    // /notify from the room's hub, but not a FanoutMessage.
    const badBody = await b.peerClient.request("a.example", "notify", { roomId: "b.example/r/x" }, { body: garbage });
    assert.equal(badBody.status, 400);
    assert.match(json(badBody.body).code, /^MIMI_ERR_CODEC_/);
    // Empty body.
    const empty = await b.peerClient.request("a.example", "notify", { roomId: "b.example/r/x" }, { body: new Uint8Array(0) });
    assert.equal(empty.status, 400);

    // Oversized (server.bodyLimitBytes is 4 MiB).
    const big = await b.peerClient.request("a.example", "submitMessage", { roomId: "a.example/r/x" }, { body: new Uint8Array(5 * 1024 * 1024) });
    assert.equal(big.status, 413);
    assert.equal(json(big.body).code, "MIMI_ERR_HTTP_BODY_TOO_LARGE");

    // keyMaterial for someone elsewhere through a provider that hosts no such room: not a relay.
    const relay = await b.peerClient.request("a.example", "keyMaterial", { targetUser: "c.example/u/carol" }, { body: garbage });
    assert.equal(relay.status, 400); // garbage is refused before anything else

    // Nothing was stored: no rooms, no queued fanout, no inbox events.
    assert.equal(await a.services.outbox.pending(), 0);
    let rooms = 0;
    for await (const _ of a.store.namespace("rooms").keys()) rooms++;
    assert.equal(rooms, 0);
  } finally {
    await net.stop();
  }
});
