// The TypeScript client SDK for native MIMI users (docs/SDK.md): MimiClient and what it uses.
export { MimiClient } from "./client.ts";
export type { AccountInfo, MimiClientOptions, RoomInfo, RoomMetadataChange, SendOptions } from "./client.ts";
export type {
  JoinedEvent,
  LeftEvent,
  MembersChangedEvent,
  MessageEvent,
  MimiEvent,
  MimiEventOf,
  MimiEventType,
  ParticipantAddedEvent,
  ParticipantBannedEvent,
  ParticipantRemovedEvent,
  RoleChangedEvent,
  RoomMetadataEvent,
  SenderInfo,
} from "./events.ts";
export { MIMI_EVENT_TYPES } from "./events.ts";
export { TEXT_MARKDOWN, TEXT_PLAIN, buildMessage, interpretMessage, topicIdOfText, topicText } from "./content.ts";
export type { BuiltMessage, ContentContext, DroppedAttachment, ExternalAttachment, InterpretedMessage, MessageKind, MessageOperation } from "./content.ts";
export { CLIENT_STATE_NAMESPACES, openClientStore } from "./state.ts";
export { HttpTransport, roomPath } from "./transport.ts";
export { ConsentApi, keyMaterialRefusal } from "./consent.ts";
export type { ConsentList, ConsentRecordInfo, ConsentState, HeldInfo, PreConsentPolicy } from "./consent.ts";
export type { ClientTransport, ProviderInfo, RoomKind, RoomSummary, RoomTemplate, ServerEvent } from "./transport.ts";
export { DiscoveryClient } from "./discovery.ts";
export type { ConnectOptions, DiscoveryClientOptions, DiscoveryInfo, RemoveMappingResult } from "./discovery.ts";
