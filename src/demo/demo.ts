// `mimi-bridge demo`: three providers as separate processes on loopback, with a fresh test CA
// and mutual TLS, and a scripted scenario across them: a group room hosted on a.example with
// members on b.example and c.example; messages, replies, reactions, edits and deletes; a role
// change; a second device joining by external commit; a ban; and operations that must fail.
// Then it checks what a MIMI deployment promises: every message delivered exactly once to every
// member it was meant for, and the hub holding no plaintext (its store, data files and log are
// searched for every message text).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MimiClient, openClientStore } from "../client-api/sdk/index.ts";
import type { MessageEvent } from "../client-api/sdk/events.ts";
import { isMimiError } from "../errors.ts";
import { runConsentPhase, type ConsentDemoResult, type DemoConsentPolicy } from "./consentDemo.ts";
import { startProcessNetwork, type ProcessNetwork } from "./processNetwork.ts";
import { scanForPlaintext } from "./plaintextScan.ts";

export interface DemoOptions {
  /** Called with each transcript line as it happens. */
  onLine?: (line: string) => void;
  /** Keep the temporary folder (configs, logs, data) and print where it is. */
  keep?: boolean;
  /** How long to wait for deliveries before giving up. */
  deliveryTimeoutMs?: number;
  /** b.example and c.example enforce this pre-consent policy; a consent phase runs first (consentDemo.ts). */
  consentPolicy?: DemoConsentPolicy;
}

export interface DemoResult {
  ok: boolean;
  providers: { domain: string; role: "hub" | "follower"; s2sUrl: string; clientApiUrl: string }[];
  roomId: string;
  messagesSent: number;
  messagesDelivered: number;
  duplicatesDelivered: number;
  plaintextFoundAtHub: boolean;
  plaintextFindings: { text: string; where: string }[];
  rejectedAsExpected: string[];
  unexpected: string[];
  transcript: string[];
  durationMs: number;
  dir?: string;
  /** With consentPolicy: what the targets' providers held, showed, delivered and dropped. */
  consent?: ConsentDemoResult;
}

interface Member {
  name: string;
  label: string;
  client: MimiClient;
  /** messageId → how many times this member received it. */
  received: Map<string, number>;
}

const DOMAINS = ["a.example", "b.example", "c.example"] as const;

export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const started = Date.now();
  const transcript: string[] = [];
  const say = (line: string) => {
    transcript.push(line);
    options.onLine?.(line);
  };
  const dir = await mkdtemp(join(tmpdir(), "mimi-demo-"));
  let network: ProcessNetwork | undefined;
  const members: Member[] = [];
  const rejected: string[] = [];
  const unexpected: string[] = [];
  /** messageId → text sent and the members (labels) it was meant for. */
  const sent = new Map<string, { text: string; from: string; to: Set<string> }>();
  let roomId = "";
  try {
    say(
      `starting three providers (${DOMAINS.join(", ")}) as separate processes with a fresh test CA and mutual TLS` +
        (options.consentPolicy === undefined ? " (consent not enforced; --consent-policy runs a consent phase first)" : `; b.example and c.example enforce consent policy ${options.consentPolicy}`),
    );
    const policy = options.consentPolicy;
    network = await startProcessNetwork({
      domains: DOMAINS,
      dir,
      logLevel: "info",
      ...(policy === undefined ? {} : { extraConfig: (d: string) => (d === "a.example" ? {} : { consent: { preConsent: policy } }) }),
    });
    const net = network;
    const url = (d: string) => net.providers[d]!.clientApiUrl;

    const member = async (name: string, domain: string, label: string, token?: string): Promise<Member> => {
      const client = new MimiClient({ apiUrl: url(domain), state: await openClientStore({ memory: true }) });
      if (token === undefined) await client.register(name);
      else await client.login(token);
      const m: Member = { name, label, client, received: new Map() };
      client.on("message", (e: MessageEvent) => {
        m.received.set(e.messageId, (m.received.get(e.messageId) ?? 0) + 1);
        const what = e.kind === "text" ? JSON.stringify(e.text) : e.kind === "reaction" ? `reacts ${e.reaction ?? ""}` : e.kind === "delete" ? "deletes a message" : `${e.kind} ${JSON.stringify(e.text)}`;
        say(`  ${label} received from ${e.sender.user}: ${what}${e.inReplyTo ? " (reply)" : ""}`);
      });
      members.push(m);
      return m;
    };

    const alice = await member("alice", "a.example", "alice@a");
    const bobAccount = await (async () => {
      const client = new MimiClient({ apiUrl: url("b.example"), state: await openClientStore({ memory: true }) });
      const account = await client.register("bob");
      await client.close();
      return account;
    })();
    const bob = await member("bob", "b.example", "bob@b", bobAccount.token);
    const carol = await member("carol", "c.example", "carol@c");
    say("registered alice on a.example, bob on b.example, carol on c.example (each client keeps its own MLS keys)");
    const consent =
      policy === undefined
        ? undefined
        : await runConsentPhase(
            policy,
            { client: alice.client, uri: "mimi://a.example/u/alice" },
            { client: bob.client, uri: "mimi://b.example/u/bob" },
            { client: carol.client, uri: "mimi://c.example/u/carol" },
            say,
            options.deliveryTimeoutMs ?? 60_000,
          );
    for (const problem of consent?.problems ?? []) unexpected.push(`consent: ${problem}`);

    roomId = await alice.client.createRoom("group", { name: "Clubhouse" });
    say(`alice created the group room ${roomId}; a.example is its hub`);
    await alice.client.addUser(roomId, "mimi://b.example/u/bob");
    await alice.client.addUser(roomId, "mimi://c.example/u/carol");
    say("alice added bob and carol (KeyPackages claimed through the hub, one commit each, Welcomes routed by KeyPackageRef)");

    const inRoom = new Set([alice, bob, carol]);
    const send = async (from: Member, op: () => Promise<string>, text: string, description: string) => {
      const id = await op();
      sent.set(id, { text, from: from.label, to: new Set([...inRoom].filter((m) => m !== from).map((m) => m.label)) });
      say(`${from.label} ${description}`);
      return id;
    };
    const hello = await send(alice, () => alice.client.send(roomId, "Hello from the hub provider, a.example!"), "Hello from the hub provider, a.example!", "sends \"Hello from the hub provider, a.example!\"");
    const hi = await send(bob, () => bob.client.send(roomId, "Hi from b.example"), "Hi from b.example", "sends \"Hi from b.example\"");
    await send(carol, () => carol.client.send(roomId, "Greetings from c.example"), "Greetings from c.example", "sends \"Greetings from c.example\"");
    await settle(members);
    const reply = await send(bob, () => bob.client.reply(roomId, hello, "Replying to alice: glad to be here"), "Replying to alice: glad to be here", "replies to alice");
    await send(carol, () => carol.client.react(roomId, hi, "👍"), "👍", "reacts 👍 to bob's message");
    await settle(members);
    await send(alice, () => alice.client.edit(roomId, hello, "Hello from the hub provider, a.example! (edited)"), "Hello from the hub provider, a.example! (edited)", "edits her first message");
    await send(bob, () => bob.client.delete(roomId, reply), "", "deletes his reply");
    await settle(members);

    await alice.client.setRole(roomId, "mimi://b.example/u/bob", "admin");
    say("alice made bob an admin (participant_list role change, authorised by the hub)");

    // A second device of bob joins by external commit (GroupInfo from the hub, HPKE-encrypted).
    const bob2 = await member("bob", "b.example", "bob@b (second device)", bobAccount.token);
    await bob2.client.addDevice(roomId);
    inRoom.add(bob2);
    say("bob's second device joined the room by external commit");
    await settle(members);
    await send(alice, () => alice.client.send(roomId, "Welcome, bob's second device"), "Welcome, bob's second device", "sends \"Welcome, bob's second device\"");
    await settle(members);

    // Operations that must fail.
    const mustFail = async (name: string, op: () => Promise<unknown>) => {
      try {
        await op();
        unexpected.push(`${name} succeeded but must fail`);
        say(`UNEXPECTED: ${name} succeeded`);
      } catch (err) {
        if (isMimiError(err)) {
          rejected.push(name);
          say(`as expected, ${name} was refused (${err.code})`);
        } else throw err;
      }
    };
    await mustFail("carol (member, no canRemoveParticipant) removes alice", () => carol.client.removeUser(roomId, "mimi://a.example/u/alice"));
    await alice.client.ban(roomId, "mimi://c.example/u/carol");
    inRoom.delete(carol);
    say("alice banned carol (role banned + removal of carol's clients in one commit)");
    await settle(members);
    // Her client has processed the ban commit and is no longer a member; the hub would refuse
    // her anyway (MIMI-PROTO-HUB-04, test/integration/acceptance-policy).
    await mustFail("carol (banned) sends a message", () => carol.client.send(roomId, "I should not get through"));
    await send(bob2, () => bob2.client.send(roomId, "Carol is gone; sent from bob's second device"), "Carol is gone; sent from bob's second device", "sends a message after the ban");

    // Wait for every delivery.
    const deadline = Date.now() + (options.deliveryTimeoutMs ?? 60_000);
    const missing = () => [...sent].flatMap(([id, m]) => [...m.to].filter((label) => !(members.find((x) => x.label === label)?.received.has(id) ?? false)).map((label) => `${label} ← ${id.slice(0, 12)}`));
    while (missing().length > 0 && Date.now() < deadline) await settle(members);
    const gaps = missing();
    if (gaps.length) unexpected.push(`undelivered: ${gaps.join(", ")}`);
    let delivered = 0;
    let duplicates = 0;
    for (const [id, m] of sent) {
      if ([...m.to].every((label) => members.find((x) => x.label === label)?.received.has(id))) delivered++;
    }
    for (const mem of members) for (const n of mem.received.values()) if (n > 1) duplicates += n - 1;
    // Nothing sent after the ban may reach carol.
    const afterBan = [...sent.keys()].slice(-1);
    if (afterBan.some((id) => carol.received.has(id))) unexpected.push("carol received a message after her ban");

    for (const m of members) await m.client.close();
    members.length = 0;
    await network.stop();
    say("stopped the providers; searching the hub's store, data files and log for every message text");
    const texts = [...sent.values()].map((m) => m.text).filter((t) => t.length >= 4);
    const hub = network.providers["a.example"]!;
    const scan = await scanForPlaintext({ dataDir: hub.dataDir, logFile: hub.logFile, texts, control: roomId });
    if (!scan.controlFound) unexpected.push("the plaintext scan did not find the room ID in the hub's store: the scan is not reading it");
    say(`scanned ${scan.valuesScanned} stored values and ${scan.filesScanned} files: ${scan.findings.length === 0 ? "no plaintext found" : `PLAINTEXT FOUND (${scan.findings.length})`}`);
    const result: DemoResult = {
      ok: false,
      providers: DOMAINS.map((d) => ({ domain: d, role: d === "a.example" ? "hub" : "follower", s2sUrl: net.providers[d]!.s2sUrl, clientApiUrl: net.providers[d]!.clientApiUrl })),
      roomId,
      messagesSent: sent.size,
      messagesDelivered: delivered,
      duplicatesDelivered: duplicates,
      plaintextFoundAtHub: scan.findings.length > 0,
      plaintextFindings: scan.findings,
      rejectedAsExpected: rejected,
      unexpected,
      transcript,
      durationMs: Date.now() - started,
      ...(options.keep ? { dir } : {}),
      ...(consent === undefined ? {} : { consent }),
    };
    result.ok = result.messagesDelivered === result.messagesSent && duplicates === 0 && !result.plaintextFoundAtHub && rejected.length === 2 && unexpected.length === 0;
    return result;
  } finally {
    for (const m of members) await m.client.close().catch(() => undefined);
    await network?.stop();
    if (!options.keep) await rm(dir, { recursive: true, force: true });
  }
}

/** Lets every client process what its provider holds, then waits a moment. */
async function settle(members: readonly Member[]): Promise<void> {
  for (const m of members) await m.client.sync();
  await new Promise((r) => setTimeout(r, 150));
  for (const m of members) await m.client.sync();
}
