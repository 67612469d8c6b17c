// Find internal address (draft-ietf-mimi-protocol-06 §5.8): POST /identifierQuery/{domain} with an
// IdentifierRequest, answered by an IdentifierResponse.
import { empty, enumOf, opaqueV, selectOn, struct, uint8, utf8V, vectorV } from "../codec/index.ts";
import type { Infer } from "../codec/index.ts";
import { AppDataDictionary } from "./appDataDictionary.ts";
import { IdentifierUri } from "./identifierUri.ts";

/** SearchIdentifierType (protocol-06 §5.8). */
export const SearchIdentifierType = {
  reserved: 0,
  handle: 1,
  nick: 2,
  email: 3,
  phone: 4,
  partialName: 5,
  wholeProfile: 6,
  oidcStdClaim: 7,
  vcardField: 8,
} as const;
export type SearchIdentifierType = (typeof SearchIdentifierType)[keyof typeof SearchIdentifierType];
// MIMI-PROTO-CHOICE-19: reserved(0) is rejected.
const { reserved: _reservedSearch, ...searchTypes } = SearchIdentifierType;
export const SearchIdentifierTypeCodec = enumOf("SearchIdentifierType", searchTypes, uint8);

// MIMI-PROTO-CHOICE-16: `select(type)` names no field; it selects on `searchType`.
// MIMI-PROTO-CHOICE-23: claimName, propertyName (names of OIDC claims, vCard properties) and
// searchValue ("a UTF8 string") are UTF-8 text in opaque<V>, strictly validated.
/** QueryElement (protocol-06 §5.8). */
export const QueryElement = struct("QueryElement", [
  ["searchType", SearchIdentifierTypeCodec],
  selectOn("searchType", {
    [SearchIdentifierType.handle]: empty,
    [SearchIdentifierType.nick]: empty,
    [SearchIdentifierType.email]: empty,
    [SearchIdentifierType.phone]: empty,
    [SearchIdentifierType.partialName]: empty,
    [SearchIdentifierType.wholeProfile]: empty,
    [SearchIdentifierType.oidcStdClaim]: struct("QueryElement.oidcStdClaim", [["claimName", utf8V]]),
    [SearchIdentifierType.vcardField]: struct("QueryElement.vcardField", [["propertyName", utf8V]]),
  }),
  ["searchValue", utf8V],
]);
export type QueryElement = Infer<typeof QueryElement>;

/** IdentifierRequest (protocol-06 §5.8): every element must match (AND). */
export const IdentifierRequest = struct("IdentifierRequest", [
  ["queryElements", vectorV(QueryElement)],
  ["idRequestExtensions", AppDataDictionary],
]);
export type IdentifierRequest = Infer<typeof IdentifierRequest>;

/** IdentifierQueryCode (protocol-06 §5.8). */
export const IdentifierQueryCode = { success: 0, notFound: 1, ambiguous: 2, forbidden: 3, unsupportedField: 4 } as const;
export type IdentifierQueryCode = (typeof IdentifierQueryCode)[keyof typeof IdentifierQueryCode];
export const IdentifierQueryCodeCodec = enumOf("IdentifierQueryCode", IdentifierQueryCode, uint8);

/** FieldSource (protocol-06 §5.8). */
export const FieldSource = { reserved: 0, oidcStdClaim: 7, vcardField: 8 } as const;
export type FieldSource = (typeof FieldSource)[keyof typeof FieldSource];
// MIMI-PROTO-CHOICE-19: reserved(0) is rejected.
export const FieldSourceCodec = enumOf("FieldSource", { oidcStdClaim: FieldSource.oidcStdClaim, vcardField: FieldSource.vcardField }, uint8);

// MIMI-PROTO-CHOICE-08: `string fieldName` is UTF-8 text in opaque<V>.
/** ProfileField (protocol-06 §5.8). */
export const ProfileField = struct("ProfileField", [
  ["fieldSource", FieldSourceCodec],
  ["fieldName", utf8V],
  ["fieldValue", opaqueV],
]);
export type ProfileField = Infer<typeof ProfileField>;

/** UserProfile (protocol-06 §5.8). */
export const UserProfile = struct("UserProfile", [
  ["stableUri", IdentifierUri],
  ["fields", vectorV(ProfileField)],
]);
export type UserProfile = Infer<typeof UserProfile>;

/** IdentifierResponse (protocol-06 §5.8). */
export const IdentifierResponse = struct("IdentifierResponse", [
  ["responseCode", IdentifierQueryCodeCodec],
  ["uri", vectorV(IdentifierUri)],
  ["foundProfiles", vectorV(UserProfile)],
  ["idResponseExtensions", AppDataDictionary],
]);
export type IdentifierResponse = Infer<typeof IdentifierResponse>;
