// Discovery (issue 4): protocol-06 §5.8 identifierQuery, profiles and searchability, and the
// SII → SSI discovery service with signed mappings (docs/CONSENT-DISCOVERY.md).
export { DiscoveryService } from "./service.ts";
export type {
  ConnectResult,
  ConsentRequester,
  DiscoverResult,
  DiscoveryMode,
  DiscoveryServiceOptions,
  DiscoverySettings,
  FoundMapping,
  PublishedMapping,
  SearchElementInput,
  SearchResult,
} from "./service.ts";
export { discoveryPeerRoutes } from "./s2sRoutes.ts";
export { DISCOVERY_KEY_PATH, keyDocument, loadOrCreateDiscoveryKey, parseKeyDocument } from "./keys.ts";
export type { DiscoveryKeyDocument } from "./keys.ts";
export { MappingRecords } from "./discoveryService.ts";
export * from "./mapping.ts";
export { SEARCHABILITY, isSearchability } from "./profile.ts";
export type { Profile, ProfileChange, Searchability } from "./profile.ts";
export { TokenBucketLimiter } from "./rateLimit.ts";
export type { RateLimitSettings } from "./rateLimit.ts";
