// Shared fixtures for the service tests: memory stores, real KeyPackages (made by the MLS facade,
// described the way the client API describes them before storing), error assertions.
import assert from "node:assert/strict";
import { MimiError } from "../../../src/errors.ts";
import type { MimiErrorCode } from "../../../src/errors.ts";
import type { KeyPackageFacts } from "../../../src/keymaterial/keyPackageStore.ts";
import { createClient, generateKeyPackages, keyPackageSummary } from "../../../src/mls/index.ts";
import type { MlsClient } from "../../../src/mls/index.ts";
import { asMlsMessage, mlsMessageToKeyPackage } from "../../../src/mls/wire.ts";
import { openStore } from "../../../src/storage/index.ts";
import type { Store } from "../../../src/storage/index.ts";

export const hexOf = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

export async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const store = await openStore({ kind: "memory" });
  try {
    await fn(store);
  } finally {
    await store.close();
  }
}

export async function rejectsWith(p: Promise<unknown>, code: MimiErrorCode): Promise<MimiError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof MimiError, `expected MimiError ${code}, got ${caught instanceof Error ? (caught.stack ?? caught.message) : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** A KeyPackage as the client API stores it: bare bytes and the facts keyPackageSummary reads. */
export interface UploadItem {
  bytes: Uint8Array;
  facts: KeyPackageFacts;
  refHex: string;
}

const clients = new Map<string, Promise<MlsClient>>();

/** The MLS client of `clientUri` (one signature key per client URI in a test process). */
export function mlsClient(clientUri: string): Promise<MlsClient> {
  let c = clients.get(clientUri);
  if (c === undefined) {
    c = createClient(clientUri);
    clients.set(clientUri, c);
  }
  return c;
}

/** Real KeyPackages of `clientUri`, bare, with the facts the provider derives from them. */
export async function keyPackagesOf(clientUri: string, options: { count?: number; lastResort?: boolean; lifetimeSeconds?: number } = {}): Promise<UploadItem[]> {
  const client = await mlsClient(clientUri);
  const generated = await generateKeyPackages(client, {
    count: options.count ?? 1,
    ...(options.lastResort === undefined ? {} : { lastResort: options.lastResort }),
    ...(options.lifetimeSeconds === undefined ? {} : { lifetimeSeconds: options.lifetimeSeconds }),
  });
  return generated.map((g) => {
    const bytes = mlsMessageToKeyPackage(asMlsMessage(g.encoded)).bytes;
    const s = keyPackageSummary(bytes);
    return {
      bytes,
      facts: { keyPackageRef: s.keyPackageRef, clientUri: s.clientUri, userUri: s.userUri, cipherSuite: s.cipherSuite, notAfter: Number(s.notAfter), lastResort: s.lastResort },
      refHex: hexOf(s.keyPackageRef),
    };
  });
}
