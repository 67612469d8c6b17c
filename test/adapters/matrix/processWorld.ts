// A Matrix bridge as a REAL PROCESS next to a real Synapse, for the crash, replay and hostile-input
// acceptance tests (issue 6 "Acceptance", bullets 3 and 4):
//   - Synapse (test/helpers/synapse.ts) with a freshly generated registration whose `url` is the
//     bridge's transaction endpoint on a port fixed up front, so a bridge restarted after a
//     SIGKILL comes back at the address Synapse keeps retrying;
//   - providers a.example (the Matrix adapter) and b.example (a native MIMI user) as separate
//     `mimi-bridge serve` processes with LevelDB stores (src/demo/processNetwork.ts);
//   - alice, a Matrix user with a /sync loop; bob, a native SDK client on b.example.
// Also: raw pushes to the transaction endpoint as the homeserver would make them (the hs_token
// comes from the registration file both sides read), and a full read of a Matrix room's timeline
// through /messages (the /sync view may skip events of a busy room: `limited` timelines).
import assert from "node:assert/strict";
import { join } from "node:path";
import { matrixGhostFor } from "../../../src/adapter/index.ts";
import { startProcessNetwork, type ProcessNetwork, type ProviderProcess } from "../../../src/demo/processNetwork.ts";
import { generateRegistration, writeRegistrationFile, type MatrixRegistration } from "../../../adapters/matrix/registration.ts";
import { TRANSACTION_PATH_PREFIX } from "../../../adapters/matrix/appservice.ts";
import { closeAll, collect, testClient, until, waitForEvent, type TestClient } from "../../helpers/acceptance.ts";
import { clientFor, type MatrixClient, type MatrixEvent } from "../../helpers/matrixClient.ts";
import { freePort, tempDir } from "../../helpers/processes.ts";
import { startSynapse, type SynapseServer } from "../../helpers/synapse.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME } from "./driver.ts";

export const BRIDGE_DOMAIN = "a.example";
export const NATIVE_DOMAIN = "b.example";
export const GHOST_PREFIX = "_mimi_";
export const BOT_ID = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;

export interface ProcessWorldOptions {
  /** adapters.matrix.limits of the bridge. */
  limits?: { maxBodyBytes?: number; maxTransactionBytes?: number };
  /** The providers' log level (default info). */
  logLevel?: string;
}

export interface ProcessWorld {
  readonly synapse: SynapseServer;
  readonly net: ProcessNetwork;
  /** a.example: the provider process running the Matrix adapter. */
  readonly bridge: ProviderProcess;
  /** b.example: bob's provider. */
  readonly native: ProviderProcess;
  readonly registration: MatrixRegistration;
  /** The bridge's transaction endpoint (the registration's url). */
  readonly asUrl: string;
  readonly alice: MatrixClient;
  readonly bob: TestClient;
  readonly aliceUri: string;
  readonly bobUri: string;
  /** The Matrix user ID of a remote MIMI user's ghost. */
  ghostOf(mimiUri: string): string;
  stop(): Promise<void>;
}

/** Starts Synapse, the two provider processes, alice (Matrix) and bob (native, b.example). */
export async function startProcessWorld(o: ProcessWorldOptions = {}): Promise<ProcessWorld> {
  const dir = await tempDir("matrix-proc");
  const cleanups: (() => Promise<unknown>)[] = [() => dir.remove()];
  const stop = async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  };
  try {
    const asPort = await freePort();
    const asUrl = `http://127.0.0.1:${asPort}`;
    const registration = generateRegistration({ url: asUrl, domain: MATRIX_SERVER_NAME, ghostPrefix: GHOST_PREFIX, botLocalpart: BOT_LOCALPART });
    const registrationFile = join(dir.path, "registration.yaml");
    await writeRegistrationFile(registrationFile, registration);
    const synapse = await startSynapse({ serverName: MATRIX_SERVER_NAME, appServiceConfigFiles: [registrationFile] });
    cleanups.push(() => synapse.dispose());
    const matrix = {
      homeserverUrl: synapse.url,
      domain: MATRIX_SERVER_NAME,
      registrationFile,
      listen: { host: "127.0.0.1", port: asPort },
      ghostPrefix: GHOST_PREFIX,
      botLocalpart: BOT_LOCALPART,
      ...(o.limits === undefined ? {} : { limits: o.limits }),
    };
    const net = await startProcessNetwork({
      domains: [BRIDGE_DOMAIN, NATIVE_DOMAIN],
      dir: join(dir.path, "net"),
      storage: "level",
      logLevel: o.logLevel ?? "info",
      extraConfig: (d) => (d === BRIDGE_DOMAIN ? { adapters: { matrix } } : {}),
      startTimeoutMs: 120_000,
    });
    cleanups.push(() => net.stop());
    const bridge = net.providers[BRIDGE_DOMAIN]!;
    const native = net.providers[NATIVE_DOMAIN]!;
    const alice = clientFor(synapse.url, await synapse.registerUser("alice"));
    cleanups.push(() => alice.stop());
    await alice.startSync();
    const bob = await testClient(native.clientApiUrl, { pollWaitMs: 2_000 });
    cleanups.push(() => closeAll([bob]));
    const bobUri = (await bob.client.register("bob")).userUri;
    collect(bob);
    return {
      synapse,
      net,
      bridge,
      native,
      registration,
      asUrl,
      alice,
      bob,
      aliceUri: `mimi://${BRIDGE_DOMAIN}/u/alice`,
      bobUri,
      ghostOf: (uri) => matrixGhostFor(uri, { serverName: MATRIX_SERVER_NAME, prefix: GHOST_PREFIX }),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * alice bridges a Matrix room of hers into a MIMI group (invite the bot with power level 100,
 * `!mimi bridge`, invite bob's ghost); resolves when bob (b.example) has joined the MIMI room.
 * The group's hub is a.example (the bridge's provider).
 */
export async function bridgeRoom(w: ProcessWorld, name: string): Promise<{ matrixRoomId: string; mimiRoomId: string }> {
  const { alice, bob } = w;
  const matrixRoomId = await alice.createRoom({ name, preset: "private_chat", invite: [BOT_ID], power_level_content_override: { users: { [BOT_ID]: 100 } } });
  // The bot joining on invite also says the bridge process serves its transaction endpoint.
  await alice.waitForMembership(matrixRoomId, BOT_ID, "join", 120_000);
  await alice.sendMessage(matrixRoomId, "!mimi bridge");
  const answer = await alice.waitForEvent(matrixRoomId, (e) => e.sender === BOT_ID && typeof e.content.body === "string" && /^(Bridged|Bridging failed)/.test(e.content.body), "the bot's answer to !mimi bridge", 120_000);
  assert.match(String(answer.content.body), /^Bridged/, "the room is bridged");
  const joinedBefore = new Set(bob.events.filter((e) => e.type === "joined").map((e) => e.roomId));
  await alice.invite(matrixRoomId, w.ghostOf(w.bobUri));
  const joined = await waitForEvent(bob, (e) => e.type === "joined" && !joinedBefore.has(e.roomId), `bob joins the MIMI room of ${name}`, 120_000);
  return { matrixRoomId, mimiRoomId: joined.roomId };
}

/**
 * bob creates a MIMI group on b.example (its hub) with alice; the bridge makes a portal room on
 * Synapse and invites alice, who joins it. alice must have acted on Matrix before (a bridged room),
 * so that her hosted MIMI client exists and has KeyPackages.
 */
export async function portalRoom(w: ProcessWorld, name: string): Promise<{ matrixRoomId: string; mimiRoomId: string }> {
  const { alice, bob } = w;
  const before = new Set([...alice.rooms.keys(), ...alice.invites.keys()]);
  const mimiRoomId = await bob.client.createRoom("group", { name, participants: [w.aliceUri] });
  const matrixRoomId = await alice.waitForInvite((id) => !before.has(id), 120_000);
  await alice.join(matrixRoomId);
  await alice.waitForMembership(matrixRoomId, alice.userId, "join", 60_000);
  return { matrixRoomId, mimiRoomId };
}

/** Every event of a room's timeline, oldest first, read with GET /messages (dir=f) to the end. */
export async function roomTimeline(c: MatrixClient, roomId: string): Promise<MatrixEvent[]> {
  const out: MatrixEvent[] = [];
  let from: string | undefined;
  for (;;) {
    const q: Record<string, string> = { dir: "f", limit: "1000" };
    if (from !== undefined) q.from = from;
    const page = await c.request<{ chunk: MatrixEvent[]; end?: string }>("GET", `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/messages`, undefined, q);
    out.push(...page.chunk);
    if (page.end === undefined || page.chunk.length === 0) return out;
    from = page.end;
  }
}

export interface PushResult {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface PushOptions {
  /** The token to present (default: the registration's hs_token); null: none. */
  token?: string | null;
  /** How the token travels (spec v1.4+ header, or the legacy query parameter). */
  via?: "header" | "query";
  /** A raw body instead of JSON.stringify(body). */
  raw?: string | Buffer;
  contentType?: string;
}

/** PUT /_matrix/app/v1/transactions/{txnId} as a homeserver would (spec, "Pushing events"). */
export async function pushTransaction(w: Pick<ProcessWorld, "asUrl" | "registration">, txnId: string, body: unknown, o: PushOptions = {}): Promise<PushResult> {
  const token = o.token === undefined ? w.registration.hs_token : o.token;
  const via = o.via ?? "header";
  const headers: Record<string, string> = { "content-type": o.contentType ?? "application/json" };
  if (token !== null && via === "header") headers.authorization = `Bearer ${token}`;
  const query = token !== null && via === "query" ? `?access_token=${encodeURIComponent(token)}` : "";
  const res = await fetch(`${w.asUrl}${TRANSACTION_PATH_PREFIX}/transactions/${encodeURIComponent(txnId)}${query}`, {
    method: "PUT",
    headers,
    body: o.raw ?? JSON.stringify(body),
    signal: AbortSignal.timeout(120_000),
  });
  const text = await res.text();
  let parsed: Record<string, unknown>;
  try {
    parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    parsed = { unparsed: text.slice(0, 200) };
  }
  return { status: res.status, body: parsed };
}

/** Until the bridge's transaction endpoint answers an authenticated ping (spec v1.7 "Pinging"). */
export async function endpointUp(w: Pick<ProcessWorld, "asUrl" | "registration">): Promise<void> {
  await until(
    async () => {
      try {
        const res = await fetch(`${w.asUrl}${TRANSACTION_PATH_PREFIX}/ping`, {
          method: "POST",
          headers: { authorization: `Bearer ${w.registration.hs_token}`, "content-type": "application/json" },
          body: "{}",
          signal: AbortSignal.timeout(10_000),
        });
        await res.body?.cancel();
        return res.status === 200;
      } catch {
        return false; // not listening yet
      }
    },
    "the bridge's transaction endpoint to answer",
    120_000,
  );
}

/** A room event as Synapse pushes it (client format: the spec's "Room Events" keys). */
export function syntheticEvent(o: { eventId: string; roomId: string; sender: string; content: Record<string, unknown>; type?: string }): Record<string, unknown> {
  return {
    event_id: o.eventId,
    room_id: o.roomId,
    sender: o.sender,
    type: o.type ?? "m.room.message",
    content: o.content,
    origin_server_ts: Date.now(),
    unsigned: { age: 1 },
  };
}

/** Fails (bounded) when `count()` makes no progress for `stallMs`; resolves when it reaches `total`. */
export async function untilCount(count: () => number | Promise<number>, total: number, what: string, o: { timeoutMs: number; stallMs: number }): Promise<void> {
  let progress = { n: -1, at: Date.now() };
  await until(
    async () => {
      const n = await count();
      if (n !== progress.n) progress = { n, at: Date.now() };
      else if (Date.now() - progress.at > o.stallMs) assert.fail(`${what}: no progress for ${o.stallMs} ms at ${n} of ${total}`);
      return n >= total;
    },
    what,
    o.timeoutMs,
    () => `at ${progress.n} of ${total}`,
  );
}
