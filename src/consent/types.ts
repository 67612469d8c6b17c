// Types of the consent layer (draft-ietf-mimi-protocol-06 §5.7, digest §4): the records a
// provider keeps of ConsentScopes, the pre-consent policies of the seed's Question 3, and the
// configuration section `consent` (src/config/schema.ts).
import type { Config } from "../config/index.ts";

export type ConsentConfig = Config["consent"];

/**
 * What may happen before consent (the seed's Question 3), plus `off` (consent not enforced):
 * - none: nothing reaches the target; keyMaterial answers noConsent;
 * - keypackages: KeyPackages may be claimed before consent (rate-limited, budgeted, reserved);
 *   the invitation (Welcome and handshakes) is held at the target's provider, application
 *   messages are dropped, until the target grants;
 * - quarantine: like keypackages, and application messages are held too (with caps).
 */
export type PreConsentPolicy = "off" | "none" | "keypackages" | "quarantine";
export const PRE_CONSENT_POLICIES: readonly PreConsentPolicy[] = ["off", "none", "keypackages", "quarantine"];

export type ConsentState = "requested" | "granted" | "revoked" | "cancelled" | "expired";

/** incoming: we are the target's provider; outgoing: we are the requester's provider. */
export type ConsentDirection = "incoming" | "outgoing";

/**
 * What started a record: a requestConsent, an unsolicited updateConsent (grant or revoke), or a
 * keyMaterial claim before consent (keypackages, quarantine), which the target sees as a request.
 */
export type ConsentOrigin = "request" | "grant" | "revoke" | "keyMaterial";

/** One ConsentScope (requester, target, optional room) as one provider knows it. */
export interface ConsentRecord {
  direction: ConsentDirection;
  requester: string;
  target: string;
  /** Absent: connection-wide (every room). */
  roomId?: string;
  state: ConsentState;
  origin: ConsentOrigin;
  createdAt: number;
  updatedAt: number;
  requestedAt?: number;
  grantedAt?: number;
  /** When it was revoked, cancelled or expired. */
  endedAt?: number;
  /** When a pending request or a grant runs out (consent.requestTtlSeconds, grantTtlSeconds). */
  expiresAt?: number;
  /** Outgoing: KeyPackages the target's provider sent with its grant, not yet used (bare, RFC 9420). */
  keyPackages?: Uint8Array[];
  /** Incoming: how many KeyPackages went out with our grant. */
  keyPackagesSent?: number;
}

/** A KeyPackage claimed before consent: who claimed it, for whom, for which room. */
export interface PreConsentClaim {
  requester: string;
  target: string;
  roomId?: string;
  clientUri: string;
  claimedAt: number;
  /** End of the pre-consent window (consent.requestTtlSeconds): a Welcome after it is dropped. */
  expiresAt: number;
  /** Kept this long (the KeyPackage's lifetime at least), so a late Welcome is still recognised. */
  keepUntil: number;
}

/** The outcome of looking up consent for (requester, target, room) at the target's provider. */
export type Coverage =
  /** a grant covers it (connection-wide, or this room) */
  | "granted"
  /** the newest applicable decision is a revoke (or a preemptive denial) */
  | "denied"
  /** there are grants, but for other rooms only */
  | "otherRoom"
  /** nothing decided */
  | "none";
