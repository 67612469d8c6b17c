// Helpers for SDK tests: clients on a fake provider, event collectors.
import assert from "node:assert/strict";
import { MimiClient, openClientStore } from "../../../src/client-api/sdk/index.ts";
import type { ClientTransport, MimiClientOptions, MimiEvent } from "../../../src/client-api/sdk/index.ts";
import type { Store } from "../../../src/storage/index.ts";

export interface Collected {
  readonly client: MimiClient;
  readonly events: MimiEvent[];
  stop(): void;
}

/** Collects every event of `client` (starts its event loop). */
export function collect(client: MimiClient): Collected {
  const events: MimiEvent[] = [];
  const stop = client.on("*", (e) => {
    events.push(e);
  });
  return { client, events, stop };
}

/** Waits until `events` holds an event matching `pred` (polls), returns it. */
export async function waitFor<E extends MimiEvent>(events: readonly MimiEvent[], pred: (e: MimiEvent) => e is E, timeoutMs?: number): Promise<E>;
export async function waitFor(events: readonly MimiEvent[], pred: (e: MimiEvent) => boolean, timeoutMs?: number): Promise<MimiEvent>;
export async function waitFor(events: readonly MimiEvent[], pred: (e: MimiEvent) => boolean, timeoutMs = 15_000): Promise<MimiEvent> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = events.find(pred);
    if (hit !== undefined) return hit;
    if (Date.now() > deadline) assert.fail(`timed out waiting for an event; have: ${events.map((e) => e.type).join(", ")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const isMessage = (text?: string) => (e: MimiEvent): e is Extract<MimiEvent, { type: "message" }> => e.type === "message" && (text === undefined || e.text === text);

export async function memoryState(): Promise<Store> {
  return openClientStore({ memory: true });
}

const opened: MimiClient[] = [];

export async function newClient(transport: ClientTransport, extra: Partial<MimiClientOptions> = {}): Promise<{ client: MimiClient; store: Store }> {
  const store = (extra.state as Store | undefined) ?? (await memoryState());
  const client = new MimiClient({ apiUrl: "http://fake.invalid", state: store, transport, autoCommit: [5, 30], pollWaitMs: 200, ...extra });
  opened.push(client);
  return { client, store };
}

/** Closes every client newClient made (for afterEach: a failed test must not leave event loops running). */
export async function closeAll(): Promise<void> {
  for (const c of opened.splice(0)) await c.close();
}
