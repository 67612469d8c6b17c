// The adapter SDK: everything an adapter may import from mimi-bridge (adapters/* import only
// from here; ESLint enforces it). It re-exports the identifier helpers adapters need for ghost
// names, and the logger type.
export * from "./types.ts";
export type * from "./events.ts";
export type { Adapter, AdapterConsent, AdapterContext, AdapterStore, AdapterStoreOp, CoreApi, Portal, PortalApi } from "./adapter.ts";
export type {
  ConsentPromptingAdapter,
  EditHandlingAdapter,
  HealthReportingAdapter,
  ReactionHandlingAdapter,
  ReceiptHandlingAdapter,
  RetractionHandlingAdapter,
  RoomMetadataHandlingAdapter,
  TypingHandlingAdapter,
  UserDirectoryAdapter,
} from "./adapter.ts";
export {
  capabilityMismatches,
  isConsentPrompting,
  isEditHandling,
  isHealthReporting,
  isReactionHandling,
  isReceiptHandling,
  isRetractionHandling,
  isRoomMetadataHandling,
  isTypingHandling,
  isUserDirectory,
} from "./adapter.ts";
export type { Logger } from "../log.ts";
export { MimiError, isMimiError } from "../errors.ts";
export {
  escapeJidLocalpart,
  unescapeJidLocalpart,
  parseJid,
  formatJid,
  toBareJid,
  xmppGhostFor,
  parseXmppGhost,
  mimiUriFromJid,
  jidFromMimiUri,
  matrixGhostFor,
  parseMatrixGhost,
  matrixGhostNamespaceRegex,
  parseMatrixUserId,
  mimiUriFromMatrixUserId,
  parseMimiUri,
  parseUserIdentifier,
  userUri,
  providerOf,
} from "../ids/index.ts";
export type { Jid } from "../ids/index.ts";
export { KeyedSerial } from "./serial.ts";
