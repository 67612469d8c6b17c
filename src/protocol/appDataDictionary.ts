// AppDataDictionary (draft-ietf-mls-extensions §4.6), which protocol-06 reuses as extension point
// in ConsentEntry.consent_extensions (§5.7), IdentifierRequest.id_request_extensions and
// IdentifierResponse.id_response_extensions (§5.8) and AbuseReport.abuse_extensions (§5.9).
import { opaqueV, struct, uint16, vectorV } from "../codec/index.ts";
import type { Codec, Infer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { constrained } from "./framing.ts";

/** `uint16 ComponentID;` (mls-extensions §4.5). */
export const ComponentID: Codec<number> = { ...uint16, name: "ComponentID" };
export type ComponentID = number;

/** Component IDs assigned by protocol-06 §10 (IANA "MLS Component Types"). */
export const MimiComponentId = {
  frank_aad: 0x0020,
  franking_signature_key: 0x0021,
  participant_list: 0x0022,
  room_metadata: 0x0023,
} as const;

/** `struct { ComponentID component_id; opaque data<V>; } ComponentData;` */
export const ComponentData = struct("ComponentData", [
  ["componentId", ComponentID],
  ["data", opaqueV],
]);
export type ComponentData = Infer<typeof ComponentData>;

function sortedUnique(dict: { componentData: ComponentData[] }): string | undefined {
  const entries = dict.componentData;
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1]!.componentId;
    const cur = entries[i]!.componentId;
    if (cur === prev) return `component ${cur} appears more than once`;
    if (cur < prev) return `component ${cur} follows component ${prev}: entries are not sorted`;
  }
  return undefined;
}

// MIMI-PROTO-APPDATA-01: mls-extensions §4.6 "The entries in the component_data MUST be sorted by
// component_id, and there MUST be at most one entry for each component_id." Checked on decode
// and encode (strictly ascending IDs).
/** `struct { ComponentData component_data<V>; } AppDataDictionary;` */
export const AppDataDictionary = constrained(
  struct("AppDataDictionary", [["componentData", vectorV(ComponentData)]]),
  "MIMI-PROTO-APPDATA-01",
  sortedUnique,
);
export type AppDataDictionary = Infer<typeof AppDataDictionary>;

/** A dictionary with no components (what every extension point holds today). */
export function emptyAppDataDictionary(): AppDataDictionary {
  return { componentData: [] };
}

/** The data of component `id`, or undefined. */
export function getComponent(dict: AppDataDictionary, id: ComponentID): Uint8Array | undefined {
  return dict.componentData.find((c) => c.componentId === id)?.data;
}

/** A new dictionary with component `id` set to `data` (inserted in order or replaced). */
export function withComponent(dict: AppDataDictionary, id: ComponentID, data: Uint8Array): AppDataDictionary {
  if (!Number.isInteger(id) || id < 0 || id > 0xffff) {
    throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `component ID ${String(id)} does not fit uint16`, { details: { type: "ComponentID" } });
  }
  const rest = dict.componentData.filter((c) => c.componentId !== id);
  const componentData = [...rest, { componentId: id, data }].sort((a, b) => a.componentId - b.componentId);
  return { componentData };
}

/** A new dictionary without component `id`. */
export function withoutComponent(dict: AppDataDictionary, id: ComponentID): AppDataDictionary {
  return { componentData: dict.componentData.filter((c) => c.componentId !== id) };
}
