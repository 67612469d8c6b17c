// Fixtures for the src/mls tests: a hub, clients and rooms with MIMI components.
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";
import {
  addMembers,
  createClient,
  createExternalSender,
  createRoomGroup,
  generateKeyPackages,
  joinFromWelcome,
  processMessage,
} from "../../../src/mls/index.ts";
import type { ClientOptions, CryptoProviderName, MlsClient, MlsExternalSender, MlsGroup, ProcessResult, RoomComponents } from "../../../src/mls/index.ts";

export const te = new TextEncoder();
export const td = new TextDecoder();

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

export async function rejectsWith(p: Promise<unknown> | (() => Promise<unknown>), code: MimiErrorCode): Promise<MimiError> {
  let caught: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

export function throwsWith(fn: () => unknown, code: MimiErrorCode): MimiError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${caught instanceof Error ? caught.stack : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

export const HUB = "hub.example";

let hubCache: Promise<MlsExternalSender> | undefined;
/** One hub external sender for the whole test file. */
export function hub(): Promise<MlsExternalSender> {
  hubCache ??= createExternalSender(HUB);
  return hubCache;
}

export function userOf(name: string, provider = "a.example"): string {
  return `mimi://${provider}/u/${name}`;
}

export function client(name: string, device = "phone", options: ClientOptions & { provider?: string; cryptoProvider?: CryptoProviderName } = {}): Promise<MlsClient> {
  const { provider = "a.example", ...rest } = options;
  return createClient(`mimi://${provider}/d/${name}/${device}`, rest);
}

/** A room created by `creator` with the given participants (role 2 = "member" in these tests). */
export async function room(creator: MlsClient, participants: readonly string[], components: Omit<RoomComponents, "participantList"> = {}): Promise<MlsGroup> {
  return createRoomGroup(creator, {
    groupId: `mimi://${HUB}/g/${Math.random().toString(36).slice(2)}`,
    hubExternalSender: await hub(),
    components: { ...components, participantList: { participants: participants.map((user) => ({ user, roleIndex: 2 })) } },
  });
}

/** Adds `joiners` to `group` by one commit; every listed existing member processes it. */
export async function addAndJoin(
  group: MlsGroup,
  joiners: readonly MlsClient[],
  others: readonly MlsGroup[] = [],
): Promise<{ adder: MlsGroup; others: MlsGroup[]; joined: MlsGroup[] }> {
  const kps = await Promise.all(joiners.map(async (c) => ({ c, kp: (await generateKeyPackages(c))[0] })));
  const r = await addMembers(
    group,
    kps.map(({ kp }) => {
      assert.ok(kp !== undefined);
      return kp.encoded;
    }),
  );
  const updated: MlsGroup[] = [];
  for (const o of others) updated.push(expectCommit(await processMessage(o, r.commit)).group);
  const joined: MlsGroup[] = [];
  for (const { c, kp } of kps) {
    assert.ok(kp !== undefined);
    joined.push(await joinFromWelcome(c, r.welcome, kp));
  }
  return { adder: r.group, others: updated, joined };
}

export function expectCommit(r: ProcessResult): Extract<ProcessResult, { kind: "commit" }> {
  if (r.kind !== "commit") assert.fail(`expected a commit, got ${r.kind}`);
  return r;
}

export function expectProposal(r: ProcessResult): Extract<ProcessResult, { kind: "proposal" }> {
  if (r.kind !== "proposal") assert.fail(`expected a proposal, got ${r.kind}`);
  return r;
}

export function expectApplication(r: ProcessResult): Extract<ProcessResult, { kind: "application" }> {
  if (r.kind !== "application") assert.fail(`expected an application message, got ${r.kind}`);
  return r;
}
