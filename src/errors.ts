// The one error catalogue of mimi-bridge.
//
// Every error the bridge raises on purpose is a MimiError with a stable code from the table
// below. Codes are part of the public surface (CLI exit output, HTTP error bodies, logs): never
// rename or reuse one; add new codes instead. Each entry gives a category, the HTTP status used
// when the error crosses an HTTP boundary, and a default message.
//
// Errors wrap their cause (`{ cause }`), so a log line shows both what mimi-bridge concluded and
// what the library underneath said.

export type ErrorCategory =
  | "validation" // malformed or out-of-limit input from a peer, an adapter, a user or a file
  | "config" // the operator's configuration is wrong
  | "storage" // the Store failed or is in a state we cannot use
  | "consent" // no consent for the requested ConsentScope
  | "policy" // room policy forbids the operation
  | "not_found"
  | "peer" // another provider failed or broke the protocol
  | "usage" // wrong command-line use
  | "internal"; // a bug: "should never happen"

interface ErrorSpec {
  readonly category: ErrorCategory;
  readonly status: number;
  readonly message: string;
}

export const errorCatalogue = {
  // ---- TLS presentation language codec (RFC 9420 §2.1, RFC 8446 §3) -------------------------
  MIMI_ERR_CODEC_TRUNCATED: { category: "validation", status: 400, message: "input ends before the structure is complete" },
  MIMI_ERR_CODEC_TRAILING_BYTES: { category: "validation", status: 400, message: "input has bytes after the end of the structure" },
  MIMI_ERR_CODEC_NON_MINIMAL_LENGTH: { category: "validation", status: 400, message: "variable-length integer is not in its minimal encoding" },
  MIMI_ERR_CODEC_INVALID_VARINT: { category: "validation", status: 400, message: "variable-length integer uses the reserved 0b11 prefix" },
  MIMI_ERR_CODEC_LENGTH_TOO_LARGE: { category: "validation", status: 400, message: "vector length exceeds the limit" },
  MIMI_ERR_CODEC_INVALID_ENUM: { category: "validation", status: 400, message: "value is not a known enum value" },
  MIMI_ERR_CODEC_INVALID_OPTIONAL: { category: "validation", status: 400, message: "optional<T> presence octet is neither 0 nor 1" },
  MIMI_ERR_CODEC_INVALID_UTF8: { category: "validation", status: 400, message: "string is not valid UTF-8" },
  MIMI_ERR_CODEC_DEPTH_EXCEEDED: { category: "validation", status: 400, message: "structure nests deeper than allowed" },
  MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE: { category: "validation", status: 400, message: "value does not fit the wire type" },
  MIMI_ERR_CODEC_MLS_MALFORMED: { category: "validation", status: 400, message: "embedded MLS structure is malformed or not in canonical form" },
  MIMI_ERR_CODEC_CONSTRAINT: { category: "validation", status: 400, message: "value breaks a rule of its wire structure" },

  // ---- MIMI content (draft-ietf-mimi-content) and message status ---------------------------
  MIMI_ERR_CONTENT_CBOR_MALFORMED: { category: "validation", status: 400, message: "content is not well-formed CBOR" },
  MIMI_ERR_CONTENT_NOT_DETERMINISTIC: { category: "validation", status: 400, message: "content is not in deterministic CBOR encoding" },
  MIMI_ERR_CONTENT_SCHEMA: { category: "validation", status: 400, message: "content does not match the MIMI content schema" },
  MIMI_ERR_CONTENT_DEPTH_EXCEEDED: { category: "validation", status: 400, message: "nested parts or extensions nest deeper than allowed" },
  MIMI_ERR_CONTENT_TOO_MANY_PARTS: { category: "validation", status: 400, message: "content has more parts than allowed" },
  MIMI_ERR_CONTENT_TOPIC_TOO_LARGE: { category: "validation", status: 400, message: "topicId is larger than allowed" },
  MIMI_ERR_CONTENT_BAD_SALT: { category: "validation", status: 400, message: "salt is not 16 bytes" },
  MIMI_ERR_CONTENT_BAD_MESSAGE_ID: { category: "validation", status: 400, message: "message ID is not 32 bytes" },
  MIMI_ERR_CONTENT_UNKNOWN_HASH_ALG: { category: "validation", status: 400, message: "message ID names an unknown hash algorithm" },
  MIMI_ERR_CONTENT_EXTENSION_INVALID: { category: "validation", status: 400, message: "extensions map has an invalid key or value" },
  MIMI_ERR_CONTENT_EXPIRY_OUT_OF_RANGE: { category: "validation", status: 400, message: "expiry is too far in the past or future" },
  MIMI_ERR_CONTENT_TIMESTAMP_IN_FUTURE: { category: "validation", status: 400, message: "timestamp is in the future" },
  MIMI_ERR_CONTENT_TIMESTAMP_TOO_OLD: { category: "validation", status: 400, message: "timestamp is before the room was created" },
  MIMI_ERR_CONTENT_DUPLICATE_MESSAGE_ID: { category: "validation", status: 409, message: "a message with this ID was already seen" },
  MIMI_ERR_CONTENT_MISSING_URIS: { category: "validation", status: 400, message: "sender and room URIs are needed to compute the message ID" },
  MIMI_ERR_CONTENT_JSON_INVALID: { category: "validation", status: 400, message: "JSON form of MIMI content is invalid" },
  MIMI_ERR_CONTENT_TOO_LARGE: { category: "validation", status: 413, message: "content is larger than allowed" },
  MIMI_ERR_CONTENT_BAD_URL: { category: "validation", status: 400, message: "an external part's URL is not an http(s) URL" },
  MIMI_ERR_STATUS_INVALID: { category: "validation", status: 400, message: "message status report is invalid" },

  // ---- identifiers: MIMI URIs, SIIs, Matrix IDs, JIDs --------------------------------------
  MIMI_ERR_ID_INVALID_URI: { category: "validation", status: 400, message: "not a valid MIMI URI" },
  MIMI_ERR_ID_WRONG_KIND: { category: "validation", status: 400, message: "MIMI URI is of another kind than expected" },
  MIMI_ERR_ID_INVALID_TEL: { category: "validation", status: 400, message: "not a valid E.164 tel: URI" },
  MIMI_ERR_ID_INVALID_MAILTO: { category: "validation", status: 400, message: "not a valid mailto: URI" },
  MIMI_ERR_ID_INVALID_MATRIX: { category: "validation", status: 400, message: "not a valid Matrix user ID" },
  MIMI_ERR_ID_INVALID_JID: { category: "validation", status: 400, message: "not a valid XMPP JID" },
  MIMI_ERR_ID_UNSUPPORTED: { category: "validation", status: 400, message: "identifier form is not supported" },
  MIMI_ERR_ID_NOT_A_GHOST: { category: "validation", status: 400, message: "identifier is not a ghost of this bridge" },

  // ---- MLS (RFC 9420, draft-ietf-mls-extensions) behind src/mls ----------------------------
  MIMI_ERR_MLS_INVALID_MESSAGE: { category: "validation", status: 400, message: "MLS message is malformed or fails validation" },
  MIMI_ERR_MLS_WRONG_EPOCH: { category: "validation", status: 409, message: "MLS message is for another epoch" },
  MIMI_ERR_MLS_DECRYPT_FAILED: { category: "validation", status: 400, message: "MLS message cannot be decrypted" },
  MIMI_ERR_MLS_CREDENTIAL_REJECTED: { category: "validation", status: 403, message: "MLS credential rejected by the authentication service" },
  MIMI_ERR_MLS_KEY_PACKAGE_INVALID: { category: "validation", status: 400, message: "KeyPackage is invalid" },
  MIMI_ERR_MLS_KEY_PACKAGE_EXPIRED: { category: "validation", status: 400, message: "KeyPackage lifetime does not include the current time" },
  MIMI_ERR_MLS_UNSUPPORTED_CIPHERSUITE: { category: "validation", status: 400, message: "MLS ciphersuite is not supported" },
  MIMI_ERR_MLS_APP_DATA_INVALID: { category: "validation", status: 400, message: "AppDataUpdate or app_data_dictionary component is invalid" },
  MIMI_ERR_MLS_COMMIT_REJECTED: { category: "policy", status: 403, message: "MLS commit or proposal rejected by policy" },
  MIMI_ERR_MLS_INVALID_OPERATION: { category: "validation", status: 409, message: "operation not possible in the current MLS group state" },
  MIMI_ERR_MLS_STATE_CORRUPT: { category: "storage", status: 500, message: "stored MLS group state cannot be decoded" },
  MIMI_ERR_MLS_SIGNATURE_INVALID: { category: "validation", status: 400, message: "MLS signature does not verify with the sender's key" },
  MIMI_ERR_MLS_UNKNOWN_PROPOSAL: { category: "validation", status: 400, message: "commit references a proposal the hub does not hold for this epoch" },
  MIMI_ERR_MLS_GROUP_INFO_MISMATCH: { category: "validation", status: 400, message: "GroupInfo or ratchet tree is not the outcome of the commit" },

  // ---- room policy (draft-ietf-mimi-room-policy-03) behind src/policy -----------------------
  MIMI_ERR_POLICY_DENIED: { category: "policy", status: 403, message: "room policy does not allow this action" },
  MIMI_ERR_POLICY_INVALID: { category: "validation", status: 400, message: "room policy, role data or participant list is malformed" },

  // ---- storage ----------------------------------------------------------------------------
  MIMI_ERR_STORAGE_IO: { category: "storage", status: 500, message: "storage operation failed" },
  MIMI_ERR_STORAGE_CLOSED: { category: "storage", status: 503, message: "store is not open" },
  MIMI_ERR_STORAGE_SCHEMA_TOO_NEW: { category: "storage", status: 500, message: "data was written by a newer mimi-bridge" },
  MIMI_ERR_STORAGE_MIGRATION_FAILED: { category: "storage", status: 500, message: "storage migration failed" },
  MIMI_ERR_STORAGE_LOCK_TIMEOUT: { category: "storage", status: 503, message: "timed out waiting for a storage lock" },
  MIMI_ERR_STORAGE_INVALID_KEY: { category: "storage", status: 500, message: "invalid storage key" },
  MIMI_ERR_STORAGE_LOCKED: { category: "storage", status: 500, message: "the data folder is in use by another process" },

  // ---- configuration ----------------------------------------------------------------------
  MIMI_ERR_CONFIG_NOT_FOUND: { category: "config", status: 500, message: "configuration file not found" },
  MIMI_ERR_CONFIG_PARSE: { category: "config", status: 500, message: "configuration file is not valid YAML" },
  MIMI_ERR_CONFIG_INVALID: { category: "config", status: 500, message: "configuration is invalid" },
  MIMI_ERR_CONFIG_PLACEHOLDER_SECRET: { category: "config", status: 500, message: "a secret still holds its placeholder value" },
  MIMI_ERR_CONFIG_KEY_PERMISSIONS: { category: "config", status: 500, message: "a private key file is readable by group or others (mode must be 0600 or stricter)" },

  // ---- peers: server-to-server transport (draft-ietf-mimi-protocol-06 §Transport) ----------
  MIMI_ERR_PEER_UNAUTHENTICATED: { category: "peer", status: 403, message: "peer authentication needs mutual TLS (server.tls is not configured or no client certificate was presented)" },
  MIMI_ERR_PEER_BAD_FROM: { category: "validation", status: 400, message: "the From header must be exactly mimi@<source-domain>" },
  MIMI_ERR_PEER_CERT_MISMATCH: { category: "peer", status: 403, message: "the client certificate does not name the From domain" },
  MIMI_ERR_PEER_WRONG_HOST: { category: "peer", status: 421, message: "the Host header does not name this provider" },
  MIMI_ERR_PEER_UNREACHABLE: { category: "peer", status: 502, message: "peer provider is unreachable" },
  MIMI_ERR_PEER_TLS: { category: "peer", status: 502, message: "TLS with the peer provider failed" },
  MIMI_ERR_PEER_TIMEOUT: { category: "peer", status: 504, message: "peer provider did not answer in time" },
  MIMI_ERR_PEER_BAD_DIRECTORY: { category: "peer", status: 502, message: "peer provider's protocol directory is missing or invalid" },

  // ---- client API (native MIMI clients) ----------------------------------------------------
  MIMI_ERR_CLIENT_UNAUTHENTICATED: { category: "validation", status: 401, message: "missing or invalid client token" },
  MIMI_ERR_CLIENT_REGISTRATION_CLOSED: { category: "policy", status: 403, message: "registration is closed on this provider" },
  MIMI_ERR_CLIENT_USER_EXISTS: { category: "validation", status: 409, message: "user already exists" },
  MIMI_ERR_CLIENT_BAD_REQUEST: { category: "validation", status: 400, message: "bad client request" },
  MIMI_ERR_CLIENT_BAD_KEY_PACKAGE: { category: "validation", status: 400, message: "KeyPackage is not acceptable" },
  MIMI_ERR_CLIENT_FORBIDDEN: { category: "policy", status: 403, message: "not allowed for this user" },
  MIMI_ERR_ROOM_NOT_FOUND: { category: "not_found", status: 404, message: "no such room" },
  MIMI_ERR_ROOM_EXISTS: { category: "validation", status: 409, message: "room already exists" },
  MIMI_ERR_PEER_REFUSED: { category: "peer", status: 502, message: "the other provider refused the request" },
  MIMI_ERR_ROOM_TEMPLATE_MISMATCH: { category: "validation", status: 400, message: "the new group does not match the room template" },

  // ---- client SDK (src/client-api/sdk) --------------------------------------------------------
  MIMI_ERR_SDK_NOT_REGISTERED: { category: "usage", status: 400, message: "the client state holds no account or device: register or log in first" },
  MIMI_ERR_SDK_STATE_INVALID: { category: "storage", status: 500, message: "the client state cannot be read" },
  MIMI_ERR_SDK_CLOSED: { category: "usage", status: 400, message: "the client is closed" },
  MIMI_ERR_SDK_UNREACHABLE: { category: "peer", status: 502, message: "the provider's client API is unreachable" },
  MIMI_ERR_SDK_BAD_RESPONSE: { category: "peer", status: 502, message: "the provider's client API answered something unexpected" },
  MIMI_ERR_SDK_UNKNOWN_ROOM: { category: "not_found", status: 404, message: "this client is not a member of the room" },
  MIMI_ERR_SDK_UNKNOWN_MESSAGE: { category: "not_found", status: 404, message: "no such message in this room" },
  MIMI_ERR_SDK_NO_KEY_MATERIAL: { category: "consent", status: 403, message: "no KeyPackage could be claimed for the user" },
  MIMI_ERR_SDK_NOT_ALLOWED: { category: "policy", status: 403, message: "the hub refused the operation (room policy)" },
  MIMI_ERR_SDK_CONFLICT: { category: "peer", status: 409, message: "the operation kept losing races with other commits" },
  MIMI_ERR_SDK_JOIN_FAILED: { category: "peer", status: 502, message: "joining the room failed" },

  // ---- bridge host (src/bridge): adapters and the MLS clients it hosts for legacy users --------
  MIMI_ERR_BRIDGE_NOT_LOCAL: { category: "validation", status: 400, message: "the platform user is neither one of this bridge's users nor a ghost of a MIMI user" },
  MIMI_ERR_BRIDGE_NO_PORTAL: { category: "not_found", status: 404, message: "no MIMI room is bridged to this platform room" },
  MIMI_ERR_BRIDGE_ADAPTER_UNKNOWN: { category: "validation", status: 400, message: "no adapter of that name is built into this bridge" },
  MIMI_ERR_BRIDGE_PLATFORM_UNAVAILABLE: { category: "peer", status: 503, message: "the bridged platform could not say whether the user exists; try again later" },
  MIMI_ERR_BRIDGE_CORE_UNAVAILABLE: { category: "peer", status: 503, message: "the core could not handle a platform event now; the adapter retries it" },

  // ---- discovery: identifierQuery (protocol-06 §5.8) and the SII → SSI discovery service -------
  MIMI_ERR_DISCOVERY_RATE_LIMITED: { category: "policy", status: 429, message: "too many discovery requests; try again later" },
  MIMI_ERR_DISCOVERY_SSI_ONLY: { category: "policy", status: 403, message: "this provider resolves only service-specific identifiers (discovery.mode: ssiOnly); give a MIMI, Matrix or XMPP address" },
  MIMI_ERR_DISCOVERY_MODE: { category: "policy", status: 403, message: "not available in this provider's discovery.mode" },
  MIMI_ERR_DISCOVERY_SERVICE_DISABLED: { category: "not_found", status: 404, message: "this provider runs no discovery service (discovery.service.enabled is false)" },
  MIMI_ERR_DISCOVERY_MAPPING_INVALID: { category: "validation", status: 400, message: "discovery mapping is malformed, expired, or its signature does not verify" },
  MIMI_ERR_DISCOVERY_NOT_AUTHORITATIVE: { category: "peer", status: 403, message: "a provider may sign, publish and remove mappings only for its own users" },
  MIMI_ERR_DISCOVERY_BAD_KEY: { category: "peer", status: 502, message: "the provider's discovery signing key is missing or invalid" },
  MIMI_ERR_DISCOVERY_TOO_MANY_MAPPINGS: { category: "policy", status: 409, message: "too many discovery mappings" },
  MIMI_ERR_DISCOVERY_CONSENT_UNAVAILABLE: { category: "internal", status: 501, message: "the consent service is not available on this provider" },

  // ---- consent (protocol-06 §5.7, digest §4; src/consent/) -----------------------------------
  MIMI_ERR_CONSENT_REQUIRED: { category: "consent", status: 403, message: "the target's provider requires consent first: no consent covers this requester (or this room); ask with a consent request" },
  MIMI_ERR_CONSENT_SCOPE_MISMATCH: { category: "peer", status: 403, message: "the ConsentEntry names a target outside this provider or a requester outside the sending provider" },
  MIMI_ERR_CONSENT_NOT_FOUND: { category: "not_found", status: 404, message: "no such consent request" },
  MIMI_ERR_CONSENT_OVERRIDE_DISABLED: { category: "policy", status: 403, message: "this provider does not let users choose their own pre-consent policy (consent.userOverride is false)" },
  MIMI_ERR_CONSENT_INVALID: { category: "validation", status: 400, message: "bad consent request" },

  // ---- xmpp adapter (adapters/xmpp, issue 5) ----------------------------------------------------
  MIMI_ERR_XMPP_BAD_ADDRESS: { category: "validation", status: 400, message: "not an address the XMPP adapter can show (a local user, a ghost or a room JID)" },
  MIMI_ERR_XMPP_UNKNOWN_ROOM: { category: "not_found", status: 404, message: "the XMPP adapter has no room for this portal" },
  MIMI_ERR_XMPP_BAD_STANZA: { category: "validation", status: 400, message: "malformed or unacceptable XMPP stanza" },
  MIMI_ERR_XMPP_NOT_CONNECTED: { category: "peer", status: 503, message: "the XMPP component is not connected" },
  MIMI_ERR_XMPP_AUTH_FAILED: { category: "config", status: 500, message: "the XMPP server refused the component secret (XEP-0114 handshake)" },
  MIMI_ERR_XMPP_TIMEOUT: { category: "peer", status: 504, message: "the XMPP server did not answer in time" },
  MIMI_ERR_XMPP_STANZA_ERROR: { category: "peer", status: 502, message: "the XMPP server answered with a stanza error" },

  // ---- matrix adapter (adapters/matrix, issue 6) ------------------------------------------------
  MIMI_ERR_MATRIX_REGISTRATION_INVALID: { category: "config", status: 500, message: "the Matrix application service registration file is missing, unreadable or malformed" },
  MIMI_ERR_MATRIX_REGISTRATION_PLACEHOLDER: { category: "config", status: 500, message: "the Matrix registration holds placeholder or too-short tokens; generate one with `mimi-bridge matrix registration`" },
  MIMI_ERR_MATRIX_REGISTRATION_INSECURE: { category: "config", status: 500, message: "the Matrix registration file (it holds as_token and hs_token) is readable by group or others; chmod 600" },
  MIMI_ERR_MATRIX_REGISTRATION_MISMATCH: { category: "config", status: 500, message: "the Matrix registration does not match adapters.matrix (bot localpart, ghost namespace or domain)" },
  MIMI_ERR_MATRIX_LISTEN_FAILED: { category: "config", status: 500, message: "the Matrix transaction endpoint could not listen on its address" },

  // ---- command line and HTTP ----------------------------------------------------------------
  MIMI_ERR_CLI_USAGE: { category: "usage", status: 400, message: "wrong command-line use" },
  MIMI_ERR_FILE_NOT_FOUND: { category: "not_found", status: 404, message: "file not found" },
  MIMI_ERR_HTTP_NOT_FOUND: { category: "not_found", status: 404, message: "no such endpoint" },
  MIMI_ERR_HTTP_BODY_TOO_LARGE: { category: "validation", status: 413, message: "request body is larger than allowed" },
  MIMI_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: { category: "validation", status: 415, message: "unsupported media type" },
  MIMI_ERR_HTTP_BAD_REQUEST: { category: "validation", status: 400, message: "bad request" },
  MIMI_ERR_HTTP_NOT_IMPLEMENTED: { category: "not_found", status: 501, message: "endpoint not implemented yet" },
  MIMI_ERR_INTERNAL: { category: "internal", status: 500, message: "internal error" },
} as const satisfies Record<string, ErrorSpec>;

export type MimiErrorCode = keyof typeof errorCatalogue;

export interface MimiErrorOptions {
  cause?: unknown;
  /** Structured, non-secret facts about the failure (offsets, paths, limits). */
  details?: Record<string, unknown>;
}

export class MimiError extends Error {
  readonly code: MimiErrorCode;
  readonly category: ErrorCategory;
  readonly statusCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: MimiErrorCode, message?: string, options: MimiErrorOptions = {}) {
    const spec: ErrorSpec = errorCatalogue[code];
    super(message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MimiError";
    this.code = code;
    this.category = spec.category;
    this.statusCode = spec.status;
    this.details = options.details;
  }

  /** The body sent over HTTP and printed by the CLI: code, message, details. Never the stack. */
  toJSON(): { code: MimiErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

export function isMimiError(err: unknown, code?: MimiErrorCode): err is MimiError {
  return err instanceof MimiError && (code === undefined || err.code === code);
}

/** Wraps anything thrown by a library as a MimiError, keeping the original as `cause`. */
export function wrapError(code: MimiErrorCode, cause: unknown, message?: string, details?: Record<string, unknown>): MimiError {
  if (cause instanceof MimiError) return cause;
  const text = message ?? `${errorCatalogue[code].message}: ${cause instanceof Error ? cause.message : String(cause)}`;
  return new MimiError(code, text, details === undefined ? { cause } : { cause, details });
}
