// app_data_dictionary (draft-ietf-mls-extensions-09 §4.6), AppDataUpdate (§4.7) and the
// RFC 9420 §12.1.8.1 ExternalSender vector, declared with our codec; and the MIMI application
// logic that the patched ts-mls calls for every AppDataUpdate in a commit.
//
// The patched ts-mls (patches/ts-mls+1.6.4.patch) owns the generic §4.7 processing: grouping
// by component, "a single remove or one or more updates", inserting new entries sorted, adding
// the extension at the end when absent. This file supplies what §4.7 leaves to "the
// application logic registered to the component_id": how MIMI components interpret updates.
import { MimiError } from "../errors.ts";
import { empty, encode, enumOf, opaqueV, selectOn, struct, uint16, uint8, variant, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { decodeExactMls } from "./codecUtil.ts";
import {
  MimiComponentId,
  applyParticipantListUpdates,
  decodeBaseRoomPolicy,
  decodeParticipantListData,
  decodeParticipantListUpdate,
  decodeRoleData,
  decodeRoomMetaData,
  encodeParticipantListData,
} from "./components.ts";

/** ExtensionType values we use (RFC 9420 §17.3; mls-extensions-09 §7.2.1 suggested). */
export const ExtensionTypeId = {
  application_id: 0x0001,
  ratchet_tree: 0x0002,
  required_capabilities: 0x0003,
  external_pub: 0x0004,
  external_senders: 0x0005,
  app_data_dictionary: 0x0006,
} as const;

/** ProposalType values (RFC 9420 §17.4; mls-extensions-09 §7.3.1 suggested). */
export const ProposalTypeId = {
  add: 0x0001,
  update: 0x0002,
  remove: 0x0003,
  psk: 0x0004,
  reinit: 0x0005,
  external_init: 0x0006,
  group_context_extensions: 0x0007,
  app_data_update: 0x0008,
} as const;

// ---- app_data_dictionary -----------------------------------------------------------------------

/** `struct { ComponentID component_id; opaque data<V>; } ComponentData` (ComponentID = uint16). */
export const ComponentData = struct("ComponentData", [
  ["componentId", uint16],
  ["data", opaqueV],
]);
export type ComponentData = Infer<typeof ComponentData>;

/** `struct { ComponentData component_data<V>; } AppDataDictionary`. */
export const AppDataDictionary = struct("AppDataDictionary", [["componentData", vectorV(ComponentData)]]);
export type AppDataDictionary = Infer<typeof AppDataDictionary>;

function appDataInvalid(message: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_MLS_APP_DATA_INVALID", message, { details });
}

/** MIMI-MLS-09: mls-extensions-09 §4.6 entries MUST be sorted by component_id, at most one each. */
export function validateAppDataDictionary(d: AppDataDictionary): void {
  for (let i = 1; i < d.componentData.length; i++) {
    const prev = d.componentData[i - 1];
    const cur = d.componentData[i];
    if (prev !== undefined && cur !== undefined && prev.componentId >= cur.componentId) {
      throw appDataInvalid("app_data_dictionary entries must be sorted by component_id and unique", { index: i, componentId: cur.componentId });
    }
  }
}

export function encodeAppDataDictionary(d: AppDataDictionary): Uint8Array {
  validateAppDataDictionary(d);
  return encode(AppDataDictionary, d);
}

export function decodeAppDataDictionary(bytes: Uint8Array): AppDataDictionary {
  const d = decodeExactMls(AppDataDictionary, bytes);
  validateAppDataDictionary(d);
  return d;
}

/** Builds a dictionary from entries in any order (sorted here; duplicates rejected). */
export function makeAppDataDictionary(entries: Iterable<{ readonly componentId: number; readonly data: Uint8Array }>): AppDataDictionary {
  const componentData = [...entries].map((e) => ({ componentId: e.componentId, data: e.data })).sort((a, b) => a.componentId - b.componentId);
  const d = { componentData };
  validateAppDataDictionary(d);
  return d;
}

// ---- AppDataUpdate -------------------------------------------------------------------------------

/** `enum { invalid(0), update(1), remove(2), (255) } AppDataUpdateOperation` (invalid is never sent). */
export const AppDataUpdateOperation = { update: 1, remove: 2 } as const;
export const AppDataUpdateOperationCodec = enumOf("AppDataUpdateOperation", AppDataUpdateOperation, uint8);

/** `struct { ComponentID component_id; AppDataUpdateOperation op; select (op) { case update: opaque update<V>; case remove: struct{}; }; } AppDataUpdate`. */
export const AppDataUpdate = struct("AppDataUpdate", [
  ["componentId", uint16],
  ["op", AppDataUpdateOperationCodec],
  selectOn("op", {
    [AppDataUpdateOperation.update]: struct("AppDataUpdate.update", [["update", opaqueV]]),
    [AppDataUpdateOperation.remove]: empty,
  }),
]);
export type AppDataUpdate = Infer<typeof AppDataUpdate>;

export function encodeAppDataUpdate(u: AppDataUpdate): Uint8Array {
  return encode(AppDataUpdate, u);
}

export function decodeAppDataUpdate(bytes: Uint8Array): AppDataUpdate {
  return decodeExactMls(AppDataUpdate, bytes);
}

// ---- ExternalSender (RFC 9420 §12.1.8.1) ---------------------------------------------------------

/** RFC 9420 §5.3 CredentialType (basic 1, x509 2). */
export const CredentialTypeId = { basic: 1, x509: 2 } as const;

/** RFC 9420 §5.3 `Credential` (basic and x509 arms). */
export const CredentialCodec = variant("Credential", "credentialType", enumOf("CredentialType", CredentialTypeId, uint16), {
  [CredentialTypeId.basic]: struct("Credential.basic", [["identity", opaqueV]]),
  [CredentialTypeId.x509]: struct("Credential.x509", [["certificates", vectorV(struct("Certificate", [["certData", opaqueV]]))]]),
});

/** `struct { SignaturePublicKey signature_key; Credential credential; } ExternalSender`. */
export const ExternalSender = struct("ExternalSender", [
  ["signatureKey", opaqueV],
  ["credential", CredentialCodec],
]);
export type ExternalSender = Infer<typeof ExternalSender>;

/** MIMI-MLS-01: RFC 9420 §12.1.8.1 the extension data is `ExternalSender external_senders<V>`. */
export const ExternalSenders = vectorV(ExternalSender);

// ---- MIMI application logic for AppDataUpdate (mls-extensions-09 §4.7) ---------------------------

/** Application logic for one component: new data, or a thrown MimiError if the updates are invalid. */
export type ComponentUpdateHandler = (currentData: Uint8Array | undefined, updates: readonly Uint8Array[]) => Uint8Array;

function replaceOnce(name: string, validate: (b: Uint8Array) => unknown): ComponentUpdateHandler {
  return (_current, updates) => {
    // MIMI-MLS-13: protocol-06 "Only a single Room metadata update is valid per commit"; the
    // room-policy-03 components that "completely replace" their data are treated the same way
    // (two replacements in one commit would make the first meaningless).
    if (updates.length !== 1) throw appDataInvalid(`only one ${name} update is valid per commit`, { updates: updates.length });
    const update = updates[0] ?? new Uint8Array(0);
    validate(update);
    return update;
  };
}

/** The handlers for the MIMI components this provider understands. */
export const mimiComponentHandlers: ReadonlyMap<number, ComponentUpdateHandler> = new Map<number, ComponentUpdateHandler>([
  [
    MimiComponentId.participant_list,
    (current, updates) => {
      const list = current === undefined ? { participants: [] } : decodeParticipantListData(current);
      return encodeParticipantListData(applyParticipantListUpdates(list, updates.map(decodeParticipantListUpdate)));
    },
  ],
  [MimiComponentId.room_metadata, replaceOnce("room_metadata", decodeRoomMetaData)],
  [MimiComponentId.roles_list, replaceOnce("roles_list", decodeRoleData)],
  [MimiComponentId.base_room_policy, replaceOnce("base_room_policy", decodeBaseRoomPolicy)],
]);

/**
 * The callback installed in the patched ts-mls ClientConfig (appDataUpdateCallback). An unknown
 * component makes the proposal invalid ("An AppDataUpdate proposal is invalid if its
 * component_id references a component that is not known to the application", §4.7). Returns
 * undefined (= invalid) and records the reason, because ts-mls expects undefined, not a throw.
 */
export function makeAppDataUpdateCallback(
  handlers: ReadonlyMap<number, ComponentUpdateHandler>,
  onInvalid: (reason: string) => void,
): (componentId: number, currentData: Uint8Array | undefined, updates: Uint8Array[]) => Uint8Array | undefined {
  return (componentId, currentData, updates) => {
    const handler = handlers.get(componentId);
    if (handler === undefined) {
      onInvalid(`component 0x${componentId.toString(16).padStart(4, "0")} is not known`);
      return undefined;
    }
    try {
      return handler(currentData, updates);
    } catch (err) {
      onInvalid(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };
}

/**
 * Commit-level rules that span components (the per-component handlers cannot see them).
 * MIMI-MLS-14: room-policy-03 "an update to [roles_list] is not valid if it appear[s] in the same
 * commit as any Participant List change"; a preauth_list update "is not valid if it appears in
 * the same commit as any Participant List change, except for user removals".
 * Returns the reason if violated.
 */
export function checkAppDataUpdateCombination(updates: readonly AppDataUpdate[]): string | undefined {
  const ids = new Set(updates.map((u) => u.componentId));
  if (!ids.has(MimiComponentId.participant_list)) return undefined;
  if (ids.has(MimiComponentId.roles_list)) return "roles_list must not change in the same commit as participant_list";
  if (ids.has(MimiComponentId.preauth_list)) {
    const onlyRemovals = updates.every((u) => {
      if (u.componentId !== MimiComponentId.participant_list || u.op !== AppDataUpdateOperation.update) return true;
      const p = decodeParticipantListUpdate(u.update);
      return p.changedRoleParticipants.length === 0 && p.addedParticipants.length === 0;
    });
    if (!onlyRemovals) return "preauth_list must not change in the same commit as participant_list changes other than removals";
  }
  return undefined;
}
