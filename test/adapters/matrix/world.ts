// The world of the Matrix acceptance tests (issue 6 "Acceptance"): a real Synapse with the
// adapter's registration and real Matrix users (driver.ts), the Matrix adapter inside provider
// a.example, native MIMI SDK clients on other providers, all over mutual TLS. Other adapters (the
// XMPP adapter on another provider, for mixed.test.ts) come in through `extraConfig` and stop with
// the world through `onStop`.
import assert from "node:assert/strict";
import type { MatrixAdapter } from "../../../adapters/matrix/adapter.ts";
import { platformRoomId, platformUserId } from "../../../src/adapter/index.ts";
import type { Provider } from "../../../src/provider.ts";
import { closeAll, collect, testClient, until, waitForEvent, type MessageEventOf, type TestClient } from "../../helpers/acceptance.ts";
import type { MatrixClient } from "../../helpers/matrixClient.ts";
import { startNetwork, type TestNetwork } from "../../helpers/providers.ts";
import type { Seen } from "../conformance.ts";
import { BOT_LOCALPART, MATRIX_SERVER_NAME, matrixAdapterOf, matrixDriver, type MatrixDriver } from "./driver.ts";

/** The bridge bot's Matrix ID. */
export const BOT_ID = `@${BOT_LOCALPART}:${MATRIX_SERVER_NAME}`;

/** The provider running the Matrix adapter. */
export const A = "a.example";

/** A native MIMI user (SDK client with its events collected) and its URI. */
export interface Native extends TestClient {
  readonly uri: string;
}

export type SeenOf<K extends Seen["kind"]> = Extract<Seen, { kind: K }>;

export class MatrixWorld {
  readonly driver: MatrixDriver;
  readonly net: TestNetwork;
  readonly natives: Native[] = [];
  readonly #onStop: (() => Promise<void>)[];
  /** Per Matrix user: a room with the bot, for settled(). */
  readonly #botRooms = new Map<string, string>();

  constructor(driver: MatrixDriver, net: TestNetwork, onStop: (() => Promise<void>)[]) {
    this.driver = driver;
    this.net = net;
    this.#onStop = onStop;
  }

  provider(domain: string): Provider {
    const p = this.net.providers[domain];
    assert.ok(p !== undefined, `provider ${domain} is running`);
    return p;
  }

  get a(): Provider {
    return this.provider(A);
  }

  get adapter(): MatrixAdapter {
    return matrixAdapterOf(this.a);
  }

  /** The Matrix test user `name` (registered on Synapse by the driver, syncing). */
  matrix(name: string): MatrixClient {
    return this.driver.client(name);
  }

  /** The MIMI URI of Matrix user `name` (a local user of a.example). */
  uriOf(name: string): string {
    const uri = this.adapter.toMimiUri(platformUserId(this.matrix(name).userId));
    assert.ok(uri !== undefined, `${name} is a local user of the adapter`);
    return uri;
  }

  /** The Matrix ID of the ghost that shows MIMI user `uri` on the homeserver. */
  ghost(uri: string): string {
    return this.adapter.ghostFor(uri);
  }

  async native(domain: string, name: string): Promise<Native> {
    const c = await testClient(this.provider(domain).clientApiUrl);
    const reg = await c.client.register(name);
    collect(c);
    const n: Native = Object.assign(c, { uri: reg.userUri });
    this.natives.push(n);
    return n;
  }

  /** What Matrix user `name` has seen in Matrix room `roomId` (its /sync timeline, normalised). */
  seen(name: string, roomId: string): Seen[] {
    return [...this.driver.seen(name, platformRoomId(roomId))];
  }

  /** Waits until Matrix user `name` has seen a `kind` in `roomId` that matches. */
  async sees<K extends Seen["kind"]>(name: string, roomId: string, kind: K, pred: (s: SeenOf<K>) => boolean, what: string, timeoutMs = 60_000): Promise<SeenOf<K>> {
    let hit: SeenOf<K> | undefined;
    await until(
      () => {
        hit = this.seen(name, roomId).find((s): s is SeenOf<K> => s.kind === kind && pred(s as SeenOf<K>));
        return hit !== undefined;
      },
      `${name} sees ${what}`,
      timeoutMs,
      () => JSON.stringify(this.seen(name, roomId)).slice(-1000),
    );
    assert.ok(hit !== undefined);
    return hit;
  }

  /**
   * Until the adapter has handled every event `name` sent before this call. The adapter hands the
   * homeserver's events to its sink one by one in stream order (appservice.ts), so once the bot
   * has answered a `!mimi status` sent now, everything before it was handled.
   */
  async settled(name: string): Promise<void> {
    const c = this.matrix(name);
    let room = this.#botRooms.get(name);
    if (room === undefined) {
      room = await c.createRoom({ preset: "private_chat", invite: [BOT_ID] });
      await c.waitForMembership(room, BOT_ID, "join", 60_000);
      this.#botRooms.set(name, room);
    }
    const asked = await c.sendMessage(room, "!mimi status");
    const view = c.room(room);
    await c.waitFor(
      () => {
        const i = view.timeline.findIndex((e) => e.event_id === asked);
        return (i >= 0 && view.timeline.slice(i + 1).some((e) => e.sender === BOT_ID && e.type === "m.room.message")) || undefined;
      },
      "the bot's answer to !mimi status",
      60_000,
    );
  }

  async stop(): Promise<void> {
    await closeAll(this.natives);
    await this.driver.close().catch(() => undefined);
    await this.net.stop();
    for (const f of this.#onStop) await f().catch(() => undefined);
  }
}

export interface MatrixWorldOptions {
  /** Matrix users to register on Synapse and keep syncing (names without the server). */
  readonly matrixUsers: readonly string[];
  /** The providers (a.example first; default a, b and c.example). */
  readonly domains?: readonly string[];
  /** The consent section of every provider (default: the test networks' `off`). */
  readonly consent?: Record<string, unknown>;
  /** More configuration per provider (e.g. another adapter on another provider). */
  readonly extraConfig?: (domain: string) => Record<string, unknown>;
  /** Run after the network stopped (servers the caller started for `extraConfig`). */
  readonly onStop?: () => Promise<void>;
}

/** Starts Synapse, the providers (the Matrix adapter in a.example) and the Matrix users. */
export async function startMatrixWorld(o: MatrixWorldOptions): Promise<MatrixWorld> {
  const onStop = o.onStop === undefined ? [] : [o.onStop];
  const driver = matrixDriver();
  let net: TestNetwork | undefined;
  try {
    const matrixConfig = await driver.providerConfig();
    net = await startNetwork([...(o.domains ?? [A, "b.example", "c.example"])], {
      storage: "level",
      extraConfig: (d) => ({ ...(d === A ? matrixConfig : {}), ...(o.extraConfig?.(d) ?? {}), ...(o.consent === undefined ? {} : { consent: o.consent }) }),
    });
    const w = new MatrixWorld(driver, net, onStop);
    await driver.connect(w.a, o.matrixUsers);
    return w;
  } catch (err) {
    await driver.close().catch(() => undefined);
    await net?.stop().catch(() => undefined);
    for (const f of onStop) await f().catch(() => undefined);
    throw err;
  }
}

/** The first message event of `c` that matches. */
export const isMessage = (c: TestClient, pred: (m: MessageEventOf) => boolean, what: string, timeoutMs = 60_000): Promise<MessageEventOf> =>
  waitForEvent(c, (e) => e.type === "message" && pred(e), what, timeoutMs) as Promise<MessageEventOf>;
