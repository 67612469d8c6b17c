// The consent part of `mimi-bridge demo --consent-policy none|keypackages|quarantine` (issue 4):
// b.example and c.example run the policy; before the demo's main room, alice (a.example) tries to
// reach bob and carol in a room of her own ("Before consent"). The result records what the
// targets' providers held and showed before the grant, what reached bob after his grant, and what
// was dropped when carol revoked; then both grant alice so the main scenario runs as usual.
import type { MimiClient } from "../client-api/sdk/index.ts";
import type { HeldInfo } from "../client-api/sdk/index.ts";
import type { MessageEvent } from "../client-api/sdk/events.ts";
import { isMimiError } from "../errors.ts";

export type DemoConsentPolicy = "none" | "keypackages" | "quarantine";

export interface ConsentDemoResult {
  policy: DemoConsentPolicy;
  roomId: string;
  /** What alice (the requester) saw when she added bob and carol before consent. */
  requester: { addBeforeConsent: string; requestReceived: boolean };
  /** Per target: what its provider held (preview) and what its client showed, before the grant. */
  beforeGrant: Record<"bob" | "carol", { pendingRequests: number; held: HeldInfo[]; messagesShown: number }>;
  /** Texts bob's client showed in the room after he granted (held ones first, in order). */
  deliveredAfterGrant: string[];
  /** carol revoked instead: events her provider dropped, and messages her client ever showed. */
  droppedOnRevoke: number;
  shownToCarolAfterRevoke: number;
  problems: string[];
}

interface Participant {
  readonly client: MimiClient;
  readonly uri: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return true;
    await sleep(100);
  }
  return pred();
}

export async function runConsentPhase(
  policy: DemoConsentPolicy,
  alice: Participant,
  bob: Participant,
  carol: Participant,
  say: (line: string) => void,
  timeoutMs: number,
): Promise<ConsentDemoResult> {
  const problems: string[] = [];
  const seen = new Map<string, string[]>();
  const watch = (who: string, c: MimiClient, roomId: () => string) =>
    c.on("message", (e: MessageEvent) => {
      if (e.roomId === roomId()) seen.set(who, [...(seen.get(who) ?? []), e.text]);
    });
  let roomId = "";
  const stops = [watch("bob", bob.client, () => roomId), watch("carol", carol.client, () => roomId)];
  try {
    say(`consent: b.example and c.example run consent.preConsent: ${policy}`);
    roomId = await alice.client.createRoom("group", { name: "Before consent" });
    let addBeforeConsent = "accepted";
    for (const target of [bob, carol]) {
      try {
        await alice.client.addUser(roomId, target.uri);
      } catch (err) {
        if (!isMimiError(err)) throw err;
        const status = err.details?.["userStatus"];
        addBeforeConsent = `refused: ${err.code}${typeof status === "string" ? ` (${status})` : ""}`;
      }
    }
    say(`consent: alice adds bob and carol before consent: ${addBeforeConsent}`);
    const before = ["before consent 1", "before consent 2"];
    if (addBeforeConsent === "accepted") for (const text of before) await alice.client.send(roomId, text);
    const req = await alice.client.consentRequest(bob.uri);
    await alice.client.consentRequest(carol.uri);
    say(`consent: alice asks bob and carol for consent; she learns only that it was ${req.delivered ? "received" : "not received"}`);
    // What the targets' providers hold: under quarantine the Welcome, later handshakes and the
    // messages; under keypackages the Welcome and later handshakes; under none nothing. bob's
    // Welcome came first, so the commit adding carol is held for him too.
    const expectedHeld = policy === "quarantine" ? 3 : policy === "keypackages" ? 1 : 0;
    const expectedForBob = policy === "none" ? 0 : expectedHeld + 1;
    const heldOf = async (p: Participant) => (await p.client.consentList()).held.filter((h) => h.roomId === roomId);
    const count = async (p: Participant) => (await heldOf(p)).reduce((n, h) => n + (h.count ?? 0), 0);
    const dropped = async (p: Participant) => (await heldOf(p)).reduce((n, h) => n + (h.dropped ?? 0), 0);
    const settled = await until(async () => (await count(bob)) === expectedForBob && (await count(carol)) === expectedHeld && (policy !== "keypackages" || (await dropped(bob)) === 2), timeoutMs);
    if (!settled) problems.push(`the targets' providers did not hold ${expectedForBob} (bob) and ${expectedHeld} (carol) events`);
    await bob.client.sync();
    await carol.client.sync();
    const beforeGrant = {} as ConsentDemoResult["beforeGrant"];
    for (const [name, p] of [["bob", bob], ["carol", carol]] as const) {
      const l = await p.client.consentList();
      beforeGrant[name] = { pendingRequests: l.pending.length, held: l.held.filter((h) => h.roomId === roomId), messagesShown: seen.get(name)?.length ?? 0 };
      say(`consent: ${name}'s provider holds ${beforeGrant[name].held.reduce((n, h) => n + (h.count ?? 0), 0)} events (dropped ${beforeGrant[name].held.reduce((n, h) => n + (h.dropped ?? 0), 0)}), shows ${beforeGrant[name].messagesShown} messages and ${beforeGrant[name].pendingRequests} pending requests`);
      if (beforeGrant[name].messagesShown > 0) problems.push(`${name} was shown messages before consent`);
    }
    // carol revokes: what was held for her is dropped and never shown.
    const r = await carol.client.consentRevoke(alice.uri, { roomId });
    if (r.dropped !== expectedHeld) problems.push(`carol's revoke dropped ${r.dropped} events, expected ${expectedHeld}`);
    await carol.client.sync();
    const shownToCarol = seen.get("carol")?.length ?? 0;
    if (shownToCarol > 0) problems.push("carol was shown messages she never consented to");
    say(`consent: carol revokes alice for that room; ${r.dropped} held events dropped, none shown`);
    // bob grants: held events are delivered in order; under none alice adds him now.
    const g = await bob.client.consentGrant(alice.uri);
    say(`consent: bob grants alice; ${g.released} held events delivered`);
    if (addBeforeConsent !== "accepted") await alice.client.addUser(roomId, bob.uri);
    await alice.client.send(roomId, "after consent");
    const expected = policy === "quarantine" ? [...before, "after consent"] : ["after consent"];
    if (!(await until(async () => (await bob.client.sync().then(() => seen.get("bob")?.length ?? 0)) >= expected.length, timeoutMs))) problems.push("bob did not receive the messages after his grant");
    const deliveredAfterGrant = seen.get("bob") ?? [];
    if (JSON.stringify(deliveredAfterGrant) !== JSON.stringify(expected)) problems.push(`bob received ${JSON.stringify(deliveredAfterGrant)}, expected ${JSON.stringify(expected)}`);
    say(`consent: bob's client shows ${JSON.stringify(deliveredAfterGrant)}`);
    // For the main scenario both consent to alice (connection-wide; newer than carol's room revoke).
    await carol.client.consentGrant(alice.uri);
    say("consent: carol grants alice for every room; the demo's main room follows");
    return {
      policy,
      roomId,
      requester: { addBeforeConsent, requestReceived: req.delivered },
      beforeGrant,
      deliveredAfterGrant,
      droppedOnRevoke: r.dropped,
      shownToCarolAfterRevoke: shownToCarol,
      problems,
    };
  } finally {
    for (const stop of stops) stop();
  }
}
