// Group life cycle through the facade: application messages, external join, storage, removal,
// wrong epochs and bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import {
  createCommit,
  decodeGroupState,
  decryptMessage,
  encodeGroupState,
  encryptApplication,
  epoch,
  exportGroupInfo,
  externalJoin,
  getParticipantList,
  groupId,
  inspectMessage,
  isActive,
  members,
  ownLeafIndex,
  processHandshake,
  processMessage,
  proposeSelfRemove,
  participantListUpdateProposal,
  removeMembers,
} from "../../../src/mls/index.ts";
import type { CommitPolicy } from "../../../src/mls/index.ts";
import { addAndJoin, client, expectApplication, expectCommit, expectProposal, rejectsWith, room, td, te, throwsWith, toHex, userOf } from "./helpers.ts";

test("application messages both ways, with sender leaf and authenticated data", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  let a = adder;
  let b = joined[0];
  assert.ok(b !== undefined);
  for (let i = 0; i < 3; i++) {
    const m1 = await encryptApplication(a, te.encode(`hello bob ${i}`), { authenticatedData: te.encode("aad") });
    a = m1.group;
    const info = inspectMessage(m1.message);
    assert.ok(info.wireFormat === "private_message" && info.contentType === "application" && info.epoch === 1n);
    const r1 = expectApplication(await decryptMessage(b, m1.message));
    b = r1.group;
    assert.equal(td.decode(r1.plaintext), `hello bob ${i}`);
    assert.equal(td.decode(r1.authenticatedData), "aad");
    assert.equal(r1.sender.leafIndex, 0);
    assert.ok(r1.sender.identity?.kind === "client" && r1.sender.identity.userUri === userOf("alice"));

    const m2 = await encryptApplication(b, te.encode(`hello alice ${i}`));
    b = m2.group;
    const r2 = expectApplication(await decryptMessage(a, m2.message));
    a = r2.group;
    assert.equal(td.decode(r2.plaintext), `hello alice ${i}`);
    assert.equal(r2.sender.leafIndex, 1);
  }
  // a handshake-only entry point refuses application messages
  const m3 = await encryptApplication(a, te.encode("x"));
  await rejectsWith(processHandshake(b, m3.message), "MIMI_ERR_MLS_INVALID_MESSAGE");
});

test("external join from GroupInfo (RFC 9420 external commit) by a participant", async () => {
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob"), userOf("carol")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  let a = adder;
  let b = joined[0];
  assert.ok(b !== undefined);
  const gi = await exportGroupInfo(a);
  const info = inspectMessage(gi);
  assert.ok(info.wireFormat === "group_info" && info.epoch === 1n);
  const j = await externalJoin(carol, gi);
  const c = j.group;
  const ci = inspectMessage(j.commit);
  assert.ok(ci.wireFormat === "public_message" && ci.contentType === "commit" && ci.sender.kind === "new_member_commit");
  const ra = expectCommit(await processMessage(a, j.commit));
  a = ra.group;
  assert.equal(ra.sender.kind, "newMember");
  assert.ok(ra.sender.identity?.kind === "client" && ra.sender.identity.user === "carol");
  assert.deepEqual(ra.addedLeafIndexes, [2]);
  b = expectCommit(await processMessage(b, j.commit)).group;
  assert.equal(epoch(a), 2n);
  assert.equal(epoch(c), 2n);
  assert.equal(toHex(a.state.groupContext.confirmedTranscriptHash), toHex(c.state.groupContext.confirmedTranscriptHash));
  const m = await encryptApplication(c, te.encode("hi from carol"));
  assert.equal(td.decode(expectApplication(await processMessage(a, m.message)).plaintext), "hi from carol");
  assert.equal(td.decode(expectApplication(await processMessage(b, m.message)).plaintext), "hi from carol");

  // someone who is not a participant cannot join (MIMI-MLS-05)
  const eve = await client("eve");
  await rejectsWith(externalJoin(eve, await exportGroupInfo(a)), "MIMI_ERR_MLS_CREDENTIAL_REJECTED");
});

test("group state save/restore: encode, decode and keep going", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  const b0 = joined[0];
  assert.ok(b0 !== undefined);
  const m1 = await encryptApplication(adder, te.encode("before save"));
  const b1 = expectApplication(await processMessage(b0, m1.message)).group;

  const stored = encodeGroupState(b1);
  assert.ok(stored instanceof Uint8Array && stored.length > 100);
  const restored = decodeGroupState(bob, stored);
  assert.equal(epoch(restored), epoch(b1));
  assert.equal(toHex(groupId(restored)), toHex(groupId(b1)));
  assert.equal(ownLeafIndex(restored), 1);
  assert.deepEqual(getParticipantList(restored), getParticipantList(b1));
  assert.equal(toHex(encodeGroupState(restored)), toHex(stored));

  const m2 = await encryptApplication(m1.group, te.encode("after restore"));
  const r2 = expectApplication(await processMessage(restored, m2.message));
  assert.equal(td.decode(r2.plaintext), "after restore");
  const c = await createCommit(r2.group);
  assert.equal(epoch(expectCommit(await processMessage(m2.group, c.commit)).group), 2n);

  // another client cannot load it; garbage is refused
  throwsWith(() => decodeGroupState(alice, stored), "MIMI_ERR_MLS_STATE_CORRUPT");
  throwsWith(() => decodeGroupState(bob, stored.subarray(0, stored.length - 10)), "MIMI_ERR_MLS_STATE_CORRUPT");
  throwsWith(() => decodeGroupState(bob, new Uint8Array([9, 1, 2])), "MIMI_ERR_MLS_STATE_CORRUPT");
});

test("remove and self-remove: the removed member learns it and stops", async () => {
  const [alice, bob, carol] = await Promise.all([client("alice"), client("bob"), client("carol")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob"), userOf("carol")]);
  const { adder, joined } = await addAndJoin(g0, [bob, carol]);
  let a = adder;
  let [b, c] = joined;
  assert.ok(b !== undefined && c !== undefined);
  // carol proposes her own removal; alice commits it; the participant list keeps carol as an
  // inactive participant, then alice removes her from the list too.
  const p = await proposeSelfRemove(c);
  c = p.group;
  a = expectProposal(await processMessage(a, p.message)).group;
  b = expectProposal(await processMessage(b, p.message)).group;
  const r = await createCommit(a, {
    proposals: [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [2], addedParticipants: [] })],
  });
  a = r.group;
  b = expectCommit(await processMessage(b, r.commit)).group;
  const rc = expectCommit(await processMessage(c, r.commit));
  assert.equal(rc.removedSelf, true);
  assert.equal(isActive(rc.group), false);
  await rejectsWith(encryptApplication(rc.group, te.encode("ghost")), "MIMI_ERR_MLS_INVALID_OPERATION");
  assert.equal(members(a).length, 2);
  assert.deepEqual(getParticipantList(b)?.participants.map((x) => x.user), [userOf("alice"), userOf("bob")]);

  // removing a member's client without removing the user from the participant list is fine
  const r2 = await removeMembers(a, [1]);
  assert.equal(expectCommit(await processMessage(b, r2.commit)).removedSelf, true);
  // ...but a participant removal that leaves the user's client in the group is not (MIMI-MLS-05)
  await rejectsWith(
    createCommit(r2.group, { proposals: [participantListUpdateProposal({ changedRoleParticipants: [], removedIndices: [0], addedParticipants: [] })] }),
    "MIMI_ERR_MLS_CREDENTIAL_REJECTED",
  );
});

test("wrong epoch, other group, tampered and truncated messages are refused without changing the group", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  const b = joined[0];
  assert.ok(b !== undefined);
  // two competing commits for epoch 1: the second is for the wrong epoch once the first applied
  const c1 = await createCommit(adder);
  const c2 = await createCommit(b);
  const b2 = expectCommit(await processMessage(b, c1.commit)).group;
  await rejectsWith(processMessage(b2, c2.commit), "MIMI_ERR_MLS_WRONG_EPOCH");
  // an application message of a future epoch
  const future = await encryptApplication(c1.group, te.encode("epoch 2"));
  await rejectsWith(processMessage(b, future.message), "MIMI_ERR_MLS_WRONG_EPOCH");
  // an old-epoch application message still decrypts (RFC 9420 §14: keys kept for past epochs)
  const old = await encryptApplication(b, te.encode("epoch 1"));
  const a2 = c1.group;
  assert.equal(td.decode(expectApplication(await processMessage(a2, old.message)).plaintext), "epoch 1");
  // another group
  const other = await room(alice, [userOf("alice")]);
  const o = await encryptApplication(other, te.encode("elsewhere"));
  await rejectsWith(processMessage(b2, o.message), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // tampered ciphertext, truncated, trailing bytes, garbage
  const m = await encryptApplication(future.group, te.encode("secret"));
  const t = m.message.slice();
  t[t.length - 3] = (t[t.length - 3] ?? 0) ^ 0xff;
  const err = await rejectsWith(processMessage(b2, t), "MIMI_ERR_MLS_DECRYPT_FAILED");
  assert.ok(err.cause !== undefined);
  await rejectsWith(processMessage(b2, m.message.subarray(0, 20)), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(processMessage(b2, new Uint8Array([...m.message, 0])), "MIMI_ERR_MLS_INVALID_MESSAGE");
  await rejectsWith(processMessage(b2, new Uint8Array([0, 1, 0, 9, 9])), "MIMI_ERR_MLS_INVALID_MESSAGE");
  // the group still works
  assert.equal(td.decode(expectApplication(await processMessage(b2, m.message)).plaintext), "secret");
});

test("hostile input: random and mutated messages only ever produce MimiErrors", async () => {
  const [alice, bob] = await Promise.all([client("alice"), client("bob")]);
  const g0 = await room(alice, [userOf("alice"), userOf("bob")]);
  const { adder, joined } = await addAndJoin(g0, [bob]);
  const b = joined[0];
  assert.ok(b !== undefined);
  const samples = [(await encryptApplication(adder, te.encode("x"))).message, (await createCommit(adder)).commit, await exportGroupInfo(adder)];
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 300; i++) {
    const base = samples[i % samples.length] ?? new Uint8Array();
    const input = i % 4 === 0 ? Uint8Array.from({ length: rand(200) }, () => rand(256)) : base.slice();
    if (i % 4 !== 0) for (let k = 0; k <= rand(4); k++) input[rand(input.length)] = rand(256);
    try {
      await processMessage(b, input);
    } catch (err) {
      assert.ok(err instanceof MimiError, `non-MimiError for input ${i}: ${String(err)}`);
    }
    try {
      inspectMessage(input);
    } catch (err) {
      assert.ok(err instanceof MimiError, `non-MimiError from inspectMessage for input ${i}: ${String(err)}`);
    }
  }
});

test("a caller's commit policy is applied by the committer and by receivers", async () => {
  const { createClient } = await import("../../../src/mls/index.ts");
  const noRemovals: CommitPolicy = (commit) => (commit.proposals.some((p) => p.kind === "remove") ? "removals are not allowed here" : true);
  const alice = await createClient("mimi://a.example/d/alice/phone", { commitPolicy: noRemovals });
  const bob = await createClient("mimi://a.example/d/bob/phone", { commitPolicy: noRemovals });
  const carol = await client("carol");
  const g0 = await room(alice, [userOf("alice"), userOf("bob"), userOf("carol")]);
  const { adder, joined } = await addAndJoin(g0, [bob, carol]);
  const [b, c] = joined;
  assert.ok(b !== undefined && c !== undefined);
  const err = await rejectsWith(removeMembers(adder, [2]), "MIMI_ERR_MLS_COMMIT_REJECTED");
  assert.match(err.message, /removals are not allowed here/);
  // carol has no such policy and commits a removal; bob refuses it
  const r = await removeMembers(c, [0]);
  await rejectsWith(processMessage(b, r.commit), "MIMI_ERR_MLS_COMMIT_REJECTED");
  // the policy sees each proposal with its sender
  let seen: readonly string[] = [];
  const recorder = await createClient("mimi://a.example/d/dave/phone", {
    commitPolicy: (commit) => {
      seen = commit.proposals.map((p) => `${p.kind}:${String(p.senderLeafIndex)}`);
      return true;
    },
  });
  const g1 = await room(recorder, [userOf("dave"), userOf("erin")]);
  const erin = await client("erin");
  await addAndJoin(g1, [erin]);
  assert.deepEqual(seen, ["add:0"]);
});
