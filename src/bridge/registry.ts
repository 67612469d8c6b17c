// The adapters built into mimi-bridge, by their stable IDs (the `adapters.<id>` config keys).
// Schemas are imported eagerly (the configuration is validated as one document, every problem
// reported at once); implementations are loaded only when configured, so a provider without
// XMPP never loads xmpp.js, and one without Matrix never loads the Matrix adapter.
import type { TSchema } from "@sinclair/typebox";
import { LoopbackConfigSchema } from "../../adapters/loopback/config.ts";
import { MatrixConfigSchema } from "../../adapters/matrix/config.ts";
import { XmppConfigSchema } from "../../adapters/xmpp/config.ts";
import type { Adapter } from "../adapter/adapter.ts";
import { MimiError } from "../errors.ts";

export interface AdapterEntry {
  readonly id: string;
  readonly configSchema: TSchema;
  readonly load: () => Promise<Adapter>;
}

export const BUILT_IN_ADAPTERS: readonly AdapterEntry[] = [
  { id: "xmpp", configSchema: XmppConfigSchema, load: async () => (await import("../../adapters/xmpp/index.ts")).xmppAdapter() },
  { id: "matrix", configSchema: MatrixConfigSchema, load: async () => (await import("../../adapters/matrix/index.ts")).matrixAdapter() },
  { id: "loopback", configSchema: LoopbackConfigSchema, load: async () => (await import("../../adapters/loopback/index.ts")).loopbackAdapter() },
];

export async function loadAdapter(id: string): Promise<Adapter> {
  const entry = BUILT_IN_ADAPTERS.find((a) => a.id === id);
  if (!entry) throw new MimiError("MIMI_ERR_BRIDGE_ADAPTER_UNKNOWN", `no adapter "${id}" is built in (known: ${BUILT_IN_ADAPTERS.map((a) => a.id).join(", ")})`);
  return entry.load();
}
