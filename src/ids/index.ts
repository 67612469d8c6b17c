// Identifiers: MIMI URIs, SIIs (tel:, mailto:), Matrix user IDs, XMPP JIDs, XEP-0106 escaping,
// ghosts on both legacy systems, and the "user typed an identifier" entry point.
// Every parser here throws only MimiError (MIMI_ERR_ID_*; MIMI_ERR_CONFIG_INVALID for bad bridge
// settings such as a ghost prefix).
export { MAX_DOMAIN_LENGTH, MAX_LABEL_LENGTH, toAsciiDomain, toUnicodeDomain } from "./domain.ts";
export {
  MAX_MIMI_URI_INPUT_LENGTH,
  MAX_MIMI_URI_LENGTH,
  MIMI_URI_TYPES,
  deviceUri,
  expectMimiUriKind,
  formatMimiUri,
  groupUri,
  isDeviceUri,
  isMimiUri,
  isMimiUriOfKind,
  isRoomUri,
  isUserUri,
  normaliseMimiUri,
  parseMimiUri,
  parseUserUri,
  providerOf,
  providerUri,
  pseudonymUri,
  roomUri,
  teamUri,
  tryParseMimiUri,
  userUri,
} from "./mimiUri.ts";
export type { MimiUri, MimiUriKind, MimiUriParts, ParsedMimiUri } from "./mimiUri.ts";
export {
  MAX_ADDR_SPEC_OCTETS,
  MAX_E164_DIGITS,
  MAX_LOCAL_PART_OCTETS,
  formatMailtoUri,
  formatTelUri,
  parseMailtoUri,
  parseTelUri,
} from "./sii.ts";
export type { MailtoUri, ParsedMailtoUri, ParsedTelUri, TelUri } from "./sii.ts";
export {
  DEFAULT_MATRIX_GHOST_PREFIX,
  MAX_MATRIX_USER_ID_BYTES,
  escapeMatrixLocalpart,
  formatMatrixUserId,
  isMatrixUserId,
  isValidMatrixLocalpart,
  matrixGhostFor,
  matrixGhostNamespaceRegex,
  matrixUserIdFromMimiUri,
  matrixUserToMimiUri,
  mimiUriFromMatrixUserId,
  mimiUriToMatrixUser,
  parseMatrixGhost,
  parseMatrixUserId,
  unescapeMatrixLocalpart,
} from "./matrix.ts";
export type { MatrixBridgeIdentity, MatrixGhostOptions, MatrixUserId, MatrixUserIdOptions, ParsedMatrixUserId } from "./matrix.ts";
export { JID_ESCAPES, escapeJidLocalpart, unescapeJidLocalpart } from "./xep0106.ts";
export {
  MAX_JID_PART_OCTETS,
  escapeXmppGhostUser,
  formatJid,
  jidFromMimiUri,
  mimiUriFromJid,
  mimiUriToXmppJid,
  parseJid,
  parseXmppGhost,
  toBareJid,
  unescapeXmppGhostUser,
  xmppGhostFor,
  xmppJidToMimiUri,
} from "./jid.ts";
export type { Jid, XmppBridgeIdentity, XmppGhostOptions } from "./jid.ts";
export { parseUserIdentifier } from "./userIdentifier.ts";
export type { ParseUserIdentifierOptions, UserIdentifier } from "./userIdentifier.ts";
