// Helpers shared by the acceptance tests (test/integration/acceptance-*.test.ts): SDK clients
// whose client-API traffic is tapped (what the hub answered to each commit and message, every raw
// event the provider handed out), SDK events collected per client, bounded waits that fail with
// a clear message, and SDK log lines captured for inspection.
import assert from "node:assert/strict";
import { HttpTransport, MimiClient, buildMessage, openClientStore, roomPath } from "../../src/client-api/sdk/index.ts";
import { ClientStateStore } from "../../src/client-api/sdk/state.ts";
import type { MimiEvent } from "../../src/client-api/sdk/index.ts";
import type { ClientTransport, MeInfo, ProviderInfo, RoomKind, RoomSummary, RoomTemplate, ServerEvent } from "../../src/client-api/sdk/transport.ts";
import { decodeExact } from "../../src/codec/index.ts";
import { createLogger } from "../../src/log.ts";
import type { Store } from "../../src/storage/index.ts";
import { createClient, decodeGroupState, encryptApplication, inspectMessage } from "../../src/mls/index.ts";
import { FanoutMessage, HandshakeBundle, SubmitMessageResponse, SubmitResponseCode, UpdateResponseCode, UpdateRoomResponse } from "../../src/protocol/index.ts";

/** One /update call of a client and what the hub answered. */
export interface TappedUpdate {
  readonly roomId: string;
  readonly bundle: Uint8Array;
  readonly response: Uint8Array;
  /** The UpdateRoomResponse code, decoded here (independently of the SDK). */
  readonly code: "success" | "wrongEpoch" | "notAllowed" | "invalidProposal" | `other(${number})`;
  readonly currentEpoch?: bigint;
  /** The epoch the bundle's handshake was made in. */
  readonly handshakeEpoch: bigint;
  readonly handshakeKind: "commit" | "proposal";
}

/** The epoch and kind of the handshake in an encoded HandshakeBundle. */
export function bundleHandshake(bundle: Uint8Array): { epoch: bigint; kind: "commit" | "proposal" } {
  const b = decodeExact(HandshakeBundle, bundle);
  const info = inspectMessage(b.proposalOrCommit.bytes);
  if (info.wireFormat !== "public_message" && info.wireFormat !== "private_message") throw new Error(`a HandshakeBundle with a ${info.wireFormat}`);
  return { epoch: info.epoch, kind: b.kind };
}

/** One /submit call of a client and what the hub answered. */
export interface TappedSubmit {
  readonly roomId: string;
  readonly message: Uint8Array;
  readonly response: Uint8Array;
  readonly code: "accepted" | "notAllowed" | "epochTooOld" | `other(${number})`;
}

export function updateCode(response: Uint8Array): { code: TappedUpdate["code"]; currentEpoch?: bigint } {
  const r = decodeExact(UpdateRoomResponse, response) as { responseCode: number; currentEpoch?: bigint };
  const name = (Object.entries(UpdateResponseCode).find(([, v]) => v === r.responseCode)?.[0] ?? `other(${r.responseCode})`) as TappedUpdate["code"];
  return r.currentEpoch === undefined ? { code: name } : { code: name, currentEpoch: r.currentEpoch };
}

export function submitCode(response: Uint8Array): TappedSubmit["code"] {
  const r = decodeExact(SubmitMessageResponse, response) as { statusCode: number };
  return (Object.entries(SubmitResponseCode).find(([, v]) => v === r.statusCode)?.[0] ?? `other(${r.statusCode})`) as TappedSubmit["code"];
}

/**
 * The real HTTP transport with taps: records every /update and /submit with the hub's answer and
 * every raw server event, runs a hook before each /update (e.g. a barrier), and can hold
 * back the event stream (as if the events were still on their way).
 */
export class TapTransport implements ClientTransport {
  readonly inner: HttpTransport;
  readonly updates: TappedUpdate[] = [];
  readonly submits: TappedSubmit[] = [];
  /** Raw events by seq (the same seq may be fetched twice by the SDK's poll and its catch-up). */
  readonly received = new Map<number, ServerEvent>();
  /** Awaited before each /update is sent. */
  beforeUpdate: ((roomId: string) => Promise<void>) | undefined;
  /** While true, GET /events answers nothing new (after waiting like an empty long poll). */
  holdEvents = false;
  /** GET /events calls in flight (to know when a long poll that started before holdEvents is over). */
  inflightEvents = 0;
  #token: string | undefined;

  constructor(apiUrl: string) {
    this.inner = new HttpTransport({ apiUrl });
  }

  get token(): string | undefined {
    return this.#token;
  }

  setToken(token: string | undefined): void {
    this.#token = token;
    this.inner.setToken(token);
  }
  register(user: string): Promise<{ userUri: string; token: string }> {
    return this.inner.register(user);
  }
  me(): Promise<MeInfo> {
    return this.inner.me();
  }
  provider(): Promise<ProviderInfo> {
    return this.inner.provider();
  }
  registerDevice(deviceId?: string): Promise<{ clientUri: string }> {
    return this.inner.registerDevice(deviceId);
  }
  uploadKeyPackages(keyPackages: readonly Uint8Array[], lastResort: boolean): Promise<{ stored: number }> {
    return this.inner.uploadKeyPackages(keyPackages, lastResort);
  }
  keyPackageCount(clientUri: string): Promise<{ available: number; lastResort: number }> {
    return this.inner.keyPackageCount(clientUri);
  }
  roomTemplate(kind: RoomKind, participants?: readonly string[]): Promise<RoomTemplate> {
    return this.inner.roomTemplate(kind, participants);
  }
  createRoom(roomId: string, groupInfo: Uint8Array, ratchetTree: Uint8Array, clientUri: string): Promise<{ roomId: string; epoch: number }> {
    return this.inner.createRoom(roomId, groupInfo, ratchetTree, clientUri);
  }
  rooms(): Promise<RoomSummary[]> {
    return this.inner.rooms();
  }
  keyMaterial(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return this.inner.keyMaterial(roomId, request);
  }
  async update(roomId: string, bundle: Uint8Array): Promise<Uint8Array> {
    if (this.beforeUpdate !== undefined) await this.beforeUpdate(roomId);
    const response = await this.inner.update(roomId, bundle);
    const h = bundleHandshake(bundle);
    this.updates.push({ roomId, bundle, response, handshakeEpoch: h.epoch, handshakeKind: h.kind, ...updateCode(response) });
    return response;
  }
  async submit(roomId: string, message: Uint8Array): Promise<Uint8Array> {
    const response = await this.inner.submit(roomId, message);
    this.submits.push({ roomId, message, response, code: submitCode(response) });
    return response;
  }
  groupInfo(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return this.inner.groupInfo(roomId, request);
  }
  async events(after: number, waitMs: number, signal?: AbortSignal): Promise<ServerEvent[]> {
    if (this.holdEvents) {
      await sleep(Math.min(waitMs, 200), signal);
      return [];
    }
    this.inflightEvents += 1;
    let list: ServerEvent[];
    try {
      list = await this.inner.events(after, waitMs, signal);
    } finally {
      this.inflightEvents -= 1;
    }
    for (const e of list) this.received.set(e.seq, e);
    return list;
  }
  ack(clientUri: string, seq: number): Promise<void> {
    return this.inner.ack(clientUri, seq);
  }

  /** The raw events in seq order, with their FanoutMessage decoded. */
  rawEvents(): { seq: number; event: ServerEvent; fanout: FanoutMessage }[] {
    return [...this.received.values()].sort((x, y) => x.seq - y.seq).map((event) => ({ seq: event.seq, event, fanout: decodeExact(FanoutMessage, event.fanout) }));
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted === true) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/** SDK log lines (JSON objects) of one client. */
export interface CapturedLog {
  readonly lines: Record<string, unknown>[];
}

export interface TestClient {
  readonly client: MimiClient;
  readonly tap: TapTransport;
  readonly log: CapturedLog;
  readonly events: MimiEvent[];
  /** The client's state store (memory). */
  readonly store: Store;
  readonly apiUrl: string;
}

/**
 * A MimiClient on the provider at `apiUrl` with a memory state, a tapped transport, debug log
 * lines captured, and every SDK event collected (the event loop runs from the start).
 */
export async function testClient(apiUrl: string, options: { autoCommit?: false | readonly [number, number]; pollWaitMs?: number; maxAttempts?: number } = {}): Promise<TestClient> {
  const tap = new TapTransport(apiUrl);
  const log: CapturedLog = { lines: [] };
  const logger = createLogger({
    level: "debug",
    destination: {
      write(line: string) {
        try {
          log.lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not JSON: ignore
        }
      },
    },
  });
  const store = await openClientStore({ memory: true });
  const client = new MimiClient({
    apiUrl,
    transport: tap,
    state: store,
    logger,
    pollWaitMs: options.pollWaitMs ?? 1_000,
    autoCommit: options.autoCommit ?? [20, 120],
    ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
  });
  const events: MimiEvent[] = [];
  return { client, tap, log, events, store, apiUrl };
}

/** Starts collecting a client's SDK events (call after register/login so the loop has an account). */
export function collect(c: TestClient): void {
  c.client.on("*", (e) => {
    c.events.push(e);
  });
}

/** Waits (bounded) until `pred` holds; fails with `what` and a short description of the state. */
export async function until(pred: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000, describe?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${describe === undefined ? "" : `; ${describe()}`}`);
    await sleep(20);
  }
}

/** Waits (bounded) for the first event of `c` that matches. */
export async function waitForEvent(c: TestClient, pred: (e: MimiEvent) => boolean, what: string, timeoutMs = 30_000): Promise<MimiEvent> {
  let hit: MimiEvent | undefined;
  await until(
    () => {
      hit = c.events.find(pred);
      return hit !== undefined;
    },
    what,
    timeoutMs,
    () => `got ${c.events.map((e) => (e.type === "message" ? `message(${e.kind}:${e.text.slice(0, 30)})` : e.type)).join(", ")}`,
  );
  return hit!;
}

export type MessageEventOf = Extract<MimiEvent, { type: "message" }>;

export function messagesOf(c: TestClient, roomId?: string): MessageEventOf[] {
  return c.events.filter((e): e is MessageEventOf => e.type === "message" && (roomId === undefined || e.roomId === roomId));
}

/** Waits for the message event with this message ID at `c`. */
export async function waitForMessage(c: TestClient, messageId: string, what: string, timeoutMs = 30_000): Promise<MessageEventOf> {
  return (await waitForEvent(c, (e) => e.type === "message" && e.messageId === messageId, what, timeoutMs)) as MessageEventOf;
}

/** Closes clients, ignoring errors (for `finally`). */
export async function closeAll(clients: readonly TestClient[]): Promise<void> {
  for (const c of clients) await c.client.close().catch(() => undefined);
}

/** Holds back a client's event stream and waits until no poll that started before is still running. */
export async function holdEvents(c: TestClient): Promise<void> {
  c.tap.holdEvents = true;
  await until(() => c.tap.inflightEvents === 0, "the client's event polls in flight to end", 10_000);
}

/**
 * A fresh application message (MLSMessage bytes) with MIMI content `text`, encrypted with the
 * group state the client has persisted for `roomId`: what a client that kept its MLS state could
 * still produce. Nothing is written back.
 */
export async function encryptWithKeptState(c: TestClient, roomId: string, text: string): Promise<Uint8Array> {
  const state = new ClientStateStore(c.store);
  const account = await state.account();
  const groupBytes = await state.groupState(roomId);
  assert.ok(account?.clientUri !== undefined && account.signaturePublicKey !== undefined && account.signaturePrivateKey !== undefined, "the client has its keys");
  assert.ok(groupBytes !== undefined, `the client kept its group state of ${roomId}`);
  const mls = await createClient(account.clientUri, { signatureKeyPair: { publicKey: account.signaturePublicKey, privateKey: account.signaturePrivateKey } });
  const group = decodeGroupState(mls, groupBytes);
  const built = buildMessage({ senderUri: account.userUri, roomUri: roomId }, { kind: "text", text });
  return (await encryptApplication(group, built.bytes)).message;
}

/** POST /client/v1/rooms/{room}/submit with the client's token, raw; returns the HTTP status and the hub's answer. */
export async function rawSubmit(c: TestClient, roomId: string, message: Uint8Array): Promise<{ status: number; code?: TappedSubmit["code"]; body: unknown }> {
  const token = c.tap.token;
  assert.ok(token !== undefined, "the client has a token");
  const res = await fetch(`${c.apiUrl}/client/v1/rooms/${roomPath(roomId)}/submit`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ messageB64: Buffer.from(message).toString("base64") }),
  });
  const body = (await res.json()) as { responseB64?: string };
  if (res.status !== 200 || typeof body.responseB64 !== "string") return { status: res.status, body };
  return { status: res.status, code: submitCode(new Uint8Array(Buffer.from(body.responseB64, "base64"))), body };
}
