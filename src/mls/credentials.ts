// MLS credentials for MIMI and the authentication service (RFC 9420 §5.3, §5.3.1).
//
// Form chosen (documented in src/mls/README.md): a BasicCredential (RFC 9420 §5.3) whose
// `identity` is the UTF-8 bytes of a canonical MIMI URI.
//
//   - a client (MLS member) presents its client URI `mimi://<provider>/d/<user>/<device>`
//     (draft-mahy-mimi-identity-05 "Representation of identifiers using URIs"); its user URI is
//     derived by the rule /d/<user>/<device> -> /u/<user>, i.e. `mimi://<provider>/u/<user>`.
//   - a server acting as an MLS external sender (the hub, or a follower) presents its provider
//     URI `mimi://<provider>` (protocol-06 "Authenticating proposals").
//
// identity-05 suggests X.509 credentials carrying both URIs as URI SANs; that needs a CA story the
// drafts have not written yet (protocol-06 lists credential types as TODO). The BasicCredential
// form binds the same two URIs, and the AS below is where a certificate check would plug in.
import type { AuthenticationService, Credential } from "ts-mls";
import { MimiError } from "../errors.ts";
import { parseMimiUri, providerUri, userUri } from "../ids/mimiUri.ts";
import type { MimiUri } from "../ids/mimiUri.ts";

/** A client (MLS member) credential: the client URI and the user URI derived from it. */
export interface MimiClientIdentity {
  readonly kind: "client";
  readonly clientUri: MimiUri;
  readonly userUri: MimiUri;
  /** The provider domain (URI host). */
  readonly provider: string;
  readonly user: string;
  readonly device: string;
}

/** A server credential, used by the hub and followers as MLS external senders. */
export interface MimiProviderIdentity {
  readonly kind: "provider";
  readonly providerUri: MimiUri;
  readonly provider: string;
}

export type MimiIdentity = MimiClientIdentity | MimiProviderIdentity;

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

function rejected(reason: string, details: Record<string, unknown> = {}): MimiError {
  return new MimiError("MIMI_ERR_MLS_CREDENTIAL_REJECTED", `MLS credential rejected: ${reason}`, { details: { reason, ...details } });
}

/**
 * Parses the identity of a MIMI credential. MIMI-MLS-03: RFC 9420 §5.3.1 the AS must check that
 * the credential's identity is one we can bind to a MIMI user: a BasicCredential holding a MIMI
 * URI in canonical form, either a client URI with exactly a user and a device segment, or a
 * provider URI. Throws MIMI_ERR_MLS_CREDENTIAL_REJECTED otherwise.
 */
export function parseMimiCredential(credential: Credential): MimiIdentity {
  // MIMI-MLS-04: only BasicCredentials are accepted (X.509 would need the CA story above).
  if (credential.credentialType !== "basic") throw rejected("only basic credentials are accepted", { credentialType: credential.credentialType });
  let text: string;
  try {
    text = utf8Decoder.decode(credential.identity);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "MLS credential rejected: identity is not UTF-8", { cause, details: { reason: "identity is not UTF-8" } });
  }
  let parsed;
  try {
    parsed = parseMimiUri(text);
  } catch (cause) {
    throw new MimiError("MIMI_ERR_MLS_CREDENTIAL_REJECTED", "MLS credential rejected: identity is not a MIMI URI", {
      cause,
      details: { reason: "identity is not a MIMI URI" },
    });
  }
  // MIMI-MLS-03: the canonical spelling only, so one client has exactly one credential identity
  // (two spellings would defeat duplicate and participant checks that compare URIs).
  if (parsed.uri !== text) throw rejected("identity is not in canonical MIMI URI form", { canonical: parsed.uri });
  if (parsed.kind === "provider") return { kind: "provider", providerUri: parsed.uri, provider: parsed.host };
  if (parsed.kind !== "device") throw rejected("identity is neither a client nor a provider URI", { kind: parsed.kind });
  const [user, device, ...rest] = parsed.segments;
  if (user === undefined || device === undefined || rest.length > 0) {
    throw rejected("client URI must have the form mimi://<provider>/d/<user>/<device>", { segments: parsed.segments.length });
  }
  return { kind: "client", clientUri: parsed.uri, userUri: userUri(parsed.host, user), provider: parsed.host, user, device };
}

// Parsed identities of basic credentials, by identity bytes: every received message names its
// sender's credential, and parsing a URI (IDNA, normalisation) costs more than a lookup.
const identityCache = new Map<string, MimiIdentity | null>();
const IDENTITY_CACHE_LIMIT = 4096;

/** parseMimiCredential, or undefined if the credential is not a MIMI credential. */
export function tryParseMimiCredential(credential: Credential): MimiIdentity | undefined {
  const key = credential.credentialType === "basic" ? Buffer.from(credential.identity).toString("latin1") : undefined;
  if (key !== undefined) {
    const hit = identityCache.get(key);
    if (hit !== undefined) return hit ?? undefined;
  }
  let identity: MimiIdentity | undefined;
  try {
    identity = parseMimiCredential(credential);
  } catch (err) {
    if (!(err instanceof MimiError)) throw err;
  }
  if (key !== undefined) {
    if (identityCache.size >= IDENTITY_CACHE_LIMIT) identityCache.clear();
    identityCache.set(key, identity ?? null);
  }
  return identity;
}

/** The client identity of a credential; rejects provider credentials. */
export function parseClientCredential(credential: Credential): MimiClientIdentity {
  const identity = parseMimiCredential(credential);
  if (identity.kind !== "client") throw rejected("a group member must present a client credential", { provider: identity.provider });
  return identity;
}

/** A BasicCredential for a client URI (`mimi://p/d/<user>/<device>`); validates the form. */
export function clientCredential(clientUri: string): Credential {
  const canonical = parseMimiUri(clientUri).uri;
  const credential: Credential = { credentialType: "basic", identity: utf8.encode(canonical) };
  if (parseMimiCredential(credential).kind !== "client") throw rejected("not a client URI", { uri: clientUri });
  return credential;
}

/** A BasicCredential for a provider (external sender): identity `mimi://<provider>`. */
export function providerCredential(provider: string): Credential {
  return { credentialType: "basic", identity: utf8.encode(providerUri(provider)) };
}

/** What a pluggable check sees. */
export interface CredentialSubject {
  readonly identity: MimiIdentity;
  readonly signaturePublicKey: Uint8Array;
}

/** A pluggable AS check: `true` to accept, or the reason for rejecting. */
export type CredentialCheck = (subject: CredentialSubject) => true | string;

/** ts-mls AuthenticationService that remembers why it last said no (for the error message). */
export interface MimiAuthenticationService extends AuthenticationService {
  /** The reason of the most recent rejection by this instance, if any. */
  readonly rejection: string | undefined;
}

/**
 * The authentication service that replaces ts-mls's accept-everything default: every credential
 * ts-mls asks about (leaf nodes, KeyPackages, external senders) must parse as a MIMI credential
 * (MIMI-MLS-03, MIMI-MLS-04) and pass every caller-supplied check.
 */
export function createAuthenticationService(checks: readonly CredentialCheck[] = []): MimiAuthenticationService {
  let rejection: string | undefined;
  return {
    get rejection() {
      return rejection;
    },
    validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
      const identity = tryParseMimiCredential(credential);
      if (identity === undefined) {
        try {
          parseMimiCredential(credential);
        } catch (err) {
          const reason = err instanceof MimiError ? err.details?.["reason"] : undefined;
          rejection = typeof reason === "string" ? reason : err instanceof Error ? err.message : "malformed credential";
        }
        return Promise.resolve(false);
      }
      for (const check of checks) {
        const verdict = check({ identity, signaturePublicKey });
        if (verdict !== true) {
          rejection = verdict;
          return Promise.resolve(false);
        }
      }
      return Promise.resolve(true);
    },
  };
}

/** Check: client credentials must belong to `provider` (e.g. the provider that submitted them). */
export function requireClientProvider(provider: string): CredentialCheck {
  const expected = parseMimiUri(`mimi://${provider}`).host;
  return ({ identity }) =>
    identity.kind !== "client" || identity.provider === expected ? true : `client ${identity.clientUri} is not from provider ${expected}`;
}

/** Check: provider credentials (external senders) must be one of `providers`. */
export function allowExternalSenders(providers: readonly string[]): CredentialCheck {
  const allowed = new Set(providers.map((p) => parseMimiUri(`mimi://${p}`).host));
  return ({ identity }) =>
    identity.kind !== "provider" || allowed.has(identity.provider) ? true : `provider ${identity.provider} is not an allowed external sender`;
}

/**
 * Check: a client's user must be a participant (MIMI-MLS-05). `isParticipant` is asked with the
 * user URI. Note that ts-mls consults the AS while a commit is being applied, before the
 * commit's own participant-list update; the facade therefore also checks members against the
 * participant list of the resulting epoch (see group.ts), which is what protocol-06 requires.
 */
export function requireParticipant(isParticipant: (userUri: MimiUri) => boolean): CredentialCheck {
  return ({ identity }) => identity.kind !== "client" || isParticipant(identity.userUri) ? true : `user ${identity.userUri} is not a participant`;
}
