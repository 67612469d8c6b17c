// Consent (draft-ietf-mimi-protocol-06 §5.7, digest §4; docs/CONSENT-DISCOVERY.md "Consent").
export { ConsentService } from "./service.ts";
export type { ConsentListing, ConsentNotice, ConsentServiceOptions, ConsentView, PendingView, RequestResult, ScopeInput } from "./service.ts";
export { ConsentStore, coverage, effective } from "./store.ts";
export { Quarantine, QUARANTINE_LOCK } from "./quarantine.ts";
export type { HeldPreview, HeldRoom } from "./quarantine.ts";
export { TokenBuckets } from "./limits.ts";
export type { RateLimit } from "./limits.ts";
export { PRE_CONSENT_POLICIES } from "./types.ts";
export type { ConsentConfig, ConsentDirection, ConsentRecord, ConsentState, Coverage, PreConsentClaim, PreConsentPolicy } from "./types.ts";
