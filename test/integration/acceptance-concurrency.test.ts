// Acceptance: concurrent commits. Two clients on different providers (alice on the hub a.example,
// bob on the follower b.example) commit in the same epoch at once, 50 times: metadata against
// metadata, a role change against a metadata change, an add against a remove. The hub accepts
// exactly one commit per epoch and answers the other wrongEpoch; the SDK of the loser reports the
// retry, catches up and lands its operation; nobody forks.
//
// Providers: in-process (test/helpers/providers.ts), real mutual TLS on loopback between them,
// so the test can read the hub's room record (its epoch) directly; clients use the real HTTP
// client API. Each round starts with every member at the hub's epoch; both clients' first /update
// of the round waits at a barrier in their transport until both commits are built, so both are
// made in the same epoch and sent at once; which one the hub takes first is a real race.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomInt } from "node:crypto";
import { startNetwork, type TestNetwork } from "../helpers/providers.ts";
import { closeAll, collect, sleep, testClient, until, waitForEvent, waitForMessage, type TestClient, type TappedUpdate } from "../helpers/acceptance.ts";

const ROUNDS = 50;
const RACE_LOG = "lost a commit race; catching up";

/** Lets `parties` callers through together; opens anyway after `timeoutMs` (then `timedOut` is set). */
function barrier(parties: number, timeoutMs: number): { arrive(): Promise<void>; readonly timedOut: boolean; dispose(): void } {
  let arrived = 0;
  let timedOut = false;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const timer = setTimeout(() => {
    timedOut = true;
    open();
  }, timeoutMs);
  return {
    async arrive() {
      arrived += 1;
      if (arrived >= parties) {
        clearTimeout(timer);
        open();
      }
      await opened;
      // a little jitter on each side, so either may reach the hub first
      await sleep(randomInt(0, 8));
    },
    get timedOut() {
      return timedOut;
    },
    dispose: () => clearTimeout(timer),
  };
}

const raceLines = (c: TestClient) => c.log.lines.filter((l) => l.msg === RACE_LOG).length;

test("MIMI-PROTO-HUB-01 two clients on different providers commit in the same epoch at once, 50 times: one commit per epoch, wrongEpoch to the other, the loser retries and lands, no fork", async () => {
  let net: TestNetwork | undefined;
  const clients: TestClient[] = [];
  try {
    net = await startNetwork(["a.example", "b.example"]);
    const A = net.providers["a.example"]!;
    const B = net.providers["b.example"]!;
    const alice = await testClient(A.clientApiUrl);
    const erin = await testClient(A.clientApiUrl);
    const bob = await testClient(B.clientApiUrl);
    const carol = await testClient(B.clientApiUrl);
    const dave = await testClient(B.clientApiUrl);
    clients.push(alice, erin, bob, carol, dave);
    const names = new Map<TestClient, string>([[alice, "alice"], [erin, "erin"], [bob, "bob"], [carol, "carol"], [dave, "dave"]]);
    const uri: Record<string, string> = {};
    for (const [c, name] of names) uri[name] = (await c.client.register(name)).userUri;
    for (const c of clients) collect(c);

    const roomId = await alice.client.createRoom("group", { participants: [uri["bob"]!, uri["carol"]!, uri["erin"]!] });
    for (const c of [bob, carol, erin]) await waitForEvent(c, (e) => e.type === "joined" && e.roomId === roomId, `${names.get(c)} joined`);
    await alice.client.setRole(roomId, uri["bob"]!, "admin"); // bob may remove users too

    const hubEpoch = async () => {
      const r = await A.services.hub.record(roomId);
      assert.ok(r, "the hub hosts the room");
      return r.epoch;
    };
    const members = new Set<TestClient>([alice, bob, carol, erin]);
    const epochOf = async (c: TestClient) => {
      try {
        const info = await c.client.room(roomId);
        return info.status === "active" ? info.epoch : undefined;
      } catch {
        return undefined;
      }
    };
    /** Waits until every current member has processed everything up to the hub's epoch. */
    const allAt = async (epoch: number) => {
      const snapshot = new Map<string, string | undefined>();
      await until(
        async () => {
          for (const c of members) snapshot.set(names.get(c)!, await epochOf(c));
          return [...members].every((c) => snapshot.get(names.get(c)!) === String(epoch));
        },
        `every member at the hub's epoch ${epoch}`,
        30_000,
        () => JSON.stringify(Object.fromEntries(snapshot)),
      );
    };

    let carolAdmin = false;
    let daveIn = false;
    const wins = { alice: 0, bob: 0 };
    const startEpoch = await hubEpoch();
    const updatesAtStart = { alice: alice.tap.updates.length, bob: bob.tap.updates.length };
    for (let i = 0; i < ROUNDS; i++) {
      const E = await hubEpoch();
      await allAt(E);
      const gate = barrier(2, 15_000);
      for (const c of [alice, bob]) {
        let first = true;
        c.tap.beforeUpdate = async () => {
          if (!first) return;
          first = false;
          await gate.arrive();
        };
      }
      const seen = { alice: alice.tap.updates.length, bob: bob.tap.updates.length };
      const retriesBefore = { alice: raceLines(alice), bob: raceLines(bob) };
      const kind = i % 3;
      const k = Math.floor(i / 3);
      let label: string;
      let check: () => Promise<void>;
      try {
        if (kind === 0) {
          const [name, subject] = [`name ${i}`, `subject ${i}`];
          label = "metadata vs metadata";
          await Promise.all([alice.client.updateMetadata(roomId, { name }), bob.client.updateMetadata(roomId, { subject })]);
          check = async () => {
            // carol (a third member) sees the final state: both changes, neither overwrote the other
            await until(() => {
              const last = carol.events.filter((e) => e.type === "roomMetadata").at(-1);
              return last?.type === "roomMetadata" && last.name === name && last.subject === subject;
            }, `carol sees name and subject of round ${i}`);
          };
        } else if (kind === 1) {
          carolAdmin = !carolAdmin;
          const role = carolAdmin ? "admin" : "member";
          const subject = `subject ${i}`;
          label = "setRole vs metadata";
          await Promise.all([alice.client.setRole(roomId, uri["carol"]!, role), bob.client.updateMetadata(roomId, { subject })]);
          check = async () => {
            await alice.client.sync();
            const info = await alice.client.room(roomId);
            assert.equal(info.participants.find((p) => p.user === uri["carol"])?.roleName, role, `round ${i}: carol's role`);
            await until(() => {
              const last = carol.events.filter((e) => e.type === "roomMetadata").at(-1);
              return last?.type === "roomMetadata" && last.subject === subject;
            }, `carol sees the subject of round ${i}`);
          };
        } else {
          label = k % 2 === 0 ? "add dave vs remove erin" : "remove dave vs add erin";
          if (k % 2 === 0) await Promise.all([alice.client.addUser(roomId, uri["dave"]!), bob.client.removeUser(roomId, uri["erin"]!)]);
          else await Promise.all([alice.client.removeUser(roomId, uri["dave"]!), bob.client.addUser(roomId, uri["erin"]!)]);
          daveIn = k % 2 === 0;
          if (daveIn) {
            members.add(dave);
            members.delete(erin);
          } else {
            members.delete(dave);
            members.add(erin);
          }
          check = async () => {
            await alice.client.sync();
            const users = new Set((await alice.client.room(roomId)).participants.map((p) => p.user));
            assert.equal(users.has(uri["dave"]!), daveIn, `round ${i}: dave ${daveIn ? "in" : "out"}`);
            assert.equal(users.has(uri["erin"]!), !daveIn, `round ${i}: erin ${daveIn ? "out" : "in"}`);
          };
        }
      } finally {
        gate.dispose();
        alice.tap.beforeUpdate = undefined;
        bob.tap.beforeUpdate = undefined;
      }
      assert.equal(gate.timedOut, false, `round ${i} (${label}): both commits reached the barrier`);

      // ---- what the hub answered: exactly one of the two first commits won --------------------------
      const fresh = { alice: alice.tap.updates.slice(seen.alice), bob: bob.tap.updates.slice(seen.bob) };
      const firstOf = (u: TappedUpdate[]) => u[0]!;
      for (const who of ["alice", "bob"] as const) {
        assert.ok(fresh[who].length >= 1, `round ${i}: ${who} sent a commit`);
        assert.equal(firstOf(fresh[who]).handshakeKind, "commit");
        assert.equal(firstOf(fresh[who]).handshakeEpoch, BigInt(E), `round ${i} (${label}): ${who}'s first commit was made in epoch ${E}`);
      }
      const winners = (["alice", "bob"] as const).filter((w) => firstOf(fresh[w]).code === "success");
      assert.equal(winners.length, 1, `round ${i} (${label}): exactly one first commit accepted; answers: alice ${fresh.alice.map((u) => u.code).join("/")}, bob ${fresh.bob.map((u) => u.code).join("/")}`);
      const winner = winners[0]!;
      const loser = winner === "alice" ? "bob" : "alice";
      wins[winner] += 1;
      assert.deepEqual(fresh[winner].map((u) => u.code), ["success"], `round ${i}: the winner sent one commit`);
      const lost = fresh[loser];
      assert.equal(lost[0]!.code, "wrongEpoch", `round ${i}: the loser was told wrongEpoch`);
      assert.equal(lost[0]!.currentEpoch, BigInt(E + 1), `round ${i}: wrongEpoch names the hub's new epoch`);
      assert.deepEqual(lost.map((u) => u.code), ["wrongEpoch", "success"], `round ${i}: the loser retried once and landed`);
      assert.equal(lost[1]!.handshakeEpoch, BigInt(E + 1), `round ${i}: the retry was rebuilt on the winner's epoch`);
      // the SDK reported the retry (its log line for a lost race), for the loser only
      const loserClient = loser === "alice" ? alice : bob;
      const winnerClient = winner === "alice" ? alice : bob;
      assert.equal(raceLines(loserClient) - retriesBefore[loser], 1, `round ${i}: the loser's SDK reported one retry`);
      assert.equal(raceLines(winnerClient) - retriesBefore[winner], 0, `round ${i}: the winner's SDK reported none`);
      // the hub took exactly the two operations: its epoch rose by exactly 2
      assert.equal(await hubEpoch(), E + 2, `round ${i} (${label}): the room's epoch rose by exactly the two successful operations`);
      await check();
    }

    // ---- totals -----------------------------------------------------------------------------------------
    const answers = [...alice.tap.updates.slice(updatesAtStart.alice), ...bob.tap.updates.slice(updatesAtStart.bob)].map((u) => u.code);
    const endEpoch = await hubEpoch();
    assert.equal(answers.filter((c) => c === "success").length, 2 * ROUNDS, "two accepted commits per round");
    assert.equal(answers.filter((c) => c === "wrongEpoch").length, ROUNDS, "one wrongEpoch per round");
    assert.equal(answers.length, 3 * ROUNDS, "no other answers");
    assert.equal(endEpoch - startEpoch, 2 * ROUNDS, "the room's epoch rose by exactly the number of accepted commits");
    const sdkRetries = raceLines(alice) + raceLines(bob);
    assert.equal(sdkRetries, ROUNDS, "one reported retry per round");
    for (const c of clients) assert.ok(!c.log.lines.some((l) => typeof l.msg === "string" && l.msg.includes("skipped an event")), `${names.get(c)} skipped no event`);

    // ---- no fork: every member at the hub's epoch, and a message of each decrypts at every other -------
    await allAt(endEpoch);
    const texts = new Map<TestClient, { id: string; text: string }>();
    for (const c of members) {
      const text = `after the races, from ${names.get(c)}`;
      texts.set(c, { id: await c.client.send(roomId, text), text });
    }
    for (const [sender, { id, text }] of texts) {
      for (const r of members) {
        if (r === sender) continue;
        const m = await waitForMessage(r, id, `${names.get(r)} decrypts ${names.get(sender)}'s message`);
        assert.equal(m.text, text);
        assert.equal(m.sender.user, uri[names.get(sender)!]);
      }
    }
    // The race had real contention both ways? Report it; alice's path to the hub is shorter, so
    // she usually wins, which is fine: each round has exactly one winner either way.
    assert.equal(wins.alice + wins.bob, ROUNDS);
    console.log(`acceptance-concurrency: ${ROUNDS} rounds, alice won ${wins.alice}, bob won ${wins.bob}; hub epoch ${startEpoch} → ${endEpoch}`);
  } finally {
    await closeAll(clients);
    await net?.stop();
  }
});
