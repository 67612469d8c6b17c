// The answering side of identifierQuery (draft-ietf-mimi-protocol-06 §5.8, POST
// /identifierQuery/{domain}): a requesting provider asks this provider for the internal URI of one
// of its users. Rate-limited per requesting provider (MIMI-DISC-08); answers for unknown users and
// for users who are not searchable are the same bytes (MIMI-DISC-06) and cost the same work
// (MIMI-DISC-07).
import { decodeExact, encode } from "../codec/index.ts";
import { Accounts } from "../accounts/accounts.ts";
import { tryParseMimiUri } from "../ids/index.ts";
import { FieldSource, IdentifierQueryCode, IdentifierRequest, IdentifierResponse } from "../protocol/identifierQuery.ts";
import type { IdentifierQueryCode as Code } from "../protocol/identifierQuery.ts";
import { prepareQuery, matches } from "./match.ts";
import type { PreparedElement, QueryLimits } from "./match.ts";
import { publicFields } from "./profile.ts";
import { DECOY_NAME } from "./profiles.ts";
import type { Candidate, ProfileStore } from "./profiles.ts";
import { TokenBucketLimiter } from "./rateLimit.ts";
import type { RateLimitSettings } from "./rateLimit.ts";

export interface IdentifierQuerySettings {
  readonly enabled: boolean;
  readonly maxResults: number;
  readonly minSubstringLength: number;
  readonly maxElements: number;
  /** MIMI-DISC-07: the shortest time an answer takes (0: none). */
  readonly minAnswerMs: number;
  readonly peerRateLimit: RateLimitSettings;
}

/** Most candidates an exact index lookup considers (a nick shared by more users is ambiguous anyway). */
const MAX_INDEX_CANDIDATES = 1000;

const utf8 = new TextEncoder();

/** An IdentifierResponse without results: one value, so one byte string, per code (MIMI-DISC-06). */
export function emptyResponse(code: Code): IdentifierResponse {
  return { responseCode: code, uri: [], foundProfiles: [], idResponseExtensions: { componentData: [] } };
}

export class IdentifierQueryEngine {
  readonly #domain: string;
  readonly #profiles: ProfileStore;
  readonly #settings: IdentifierQuerySettings;
  readonly #limits: QueryLimits;
  readonly peerLimiter: TokenBucketLimiter;
  readonly #clock: () => number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(o: {
    domain: string;
    profiles: ProfileStore;
    settings: IdentifierQuerySettings;
    siiSearch: boolean;
    /** The rate limiter's clock (ms). */
    now?: () => number;
    /** The answer floor's clock and timer (tests). */
    clock?: () => number;
    sleep?: (ms: number) => Promise<void>;
  }) {
    this.#clock = o.clock ?? (() => performance.now());
    this.#sleep = o.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#domain = o.domain;
    this.#profiles = o.profiles;
    this.#settings = o.settings;
    this.#limits = { maxElements: o.settings.maxElements, minSubstringLength: o.settings.minSubstringLength, siiSearch: o.siiSearch };
    this.peerLimiter = new TokenBucketLimiter(o.settings.peerRateLimit, o.now === undefined ? {} : { now: o.now });
  }

  /**
   * POST /v1/identifierQuery/{domain} from `peer`: MIMI-DISC-08, one token of the peer's bucket
   * (429 MIMI_ERR_DISCOVERY_RATE_LIMITED without one, MIMI-DISC-CHOICE-10) before the body is even
   * decoded.
   */
  async answerPeer(body: Uint8Array, peer: string): Promise<Uint8Array> {
    this.peerLimiter.check(peer, "identifier queries");
    const request = decodeExact(IdentifierRequest, body);
    return encode(IdentifierResponse, await this.queryPadded(request));
  }

  /**
   * query() answered no sooner than identifierQuery.minAnswerMs after it started. MIMI-DISC-07: the
   * code path is the same for unknown and unsearchable users, but storage reads that find a record
   * cost more than reads that find none (about 10% on LevelDB, bench/discovery.ts); the floor
   * hides that, and any other difference shorter than it, from the requester.
   */
  async queryPadded(request: IdentifierRequest): Promise<IdentifierResponse> {
    const started = this.#clock();
    const response = await this.query(request);
    const wait = this.#settings.minAnswerMs - (this.#clock() - started);
    if (wait > 0) await this.#sleep(wait);
    return response;
  }

  /** The answer to a query about this provider's users (from a peer or from a local user). */
  async query(request: IdentifierRequest): Promise<IdentifierResponse> {
    // protocol-06: "forbidden means that use of this endpoint is not allowed by the provider".
    if (!this.#settings.enabled) return emptyResponse(IdentifierQueryCode.forbidden);
    const prepared = prepareQuery(request.queryElements, this.#limits);
    if (prepared.code !== undefined) return emptyResponse(IdentifierQueryCode[prepared.code]);
    const loaded = await this.#profiles.load(await this.#candidateNames(prepared.elements));
    const found: Candidate[] = [];
    for (const c of loaded) {
      // MIMI-DISC-07: the match is computed for every candidate, the decoy and unsearchable users
      // included; only then do `real` and searchability decide.
      const m = matches(c.view, prepared.elements);
      if (m && c.real && !found.some((f) => f.name === c.name)) found.push(c);
    }
    if (found.length === 0) return emptyResponse(IdentifierQueryCode.notFound);
    // protocol-06: ambiguous = the fields given must match more exactly "for the provider to
    // return any responses" (MIMI-DISC-05, MIMI-DISC-CHOICE-03).
    if (found.length > this.#settings.maxResults) return emptyResponse(IdentifierQueryCode.ambiguous);
    found.sort((a, b) => (a.view.userUri < b.view.userUri ? -1 : a.view.userUri > b.view.userUri ? 1 : 0));
    return {
      responseCode: IdentifierQueryCode.success,
      uri: found.map((c) => ({ uri: c.view.userUri })),
      foundProfiles: found.map((c) => ({
        stableUri: { uri: c.view.userUri },
        fields: publicFields(c.name, c.profile).map((f) => ({ fieldSource: FieldSource[f.source], fieldName: f.name, fieldValue: utf8.encode(f.value) })),
      })),
      idResponseExtensions: { componentData: [] },
    };
  }

  /**
   * Candidates of the most selective exact element (handle, then e-mail, phone, nick) through the
   * indexes; with no exact element, every user. MIMI-DISC-07: each lookup yields a fixed number of
   * candidates when it finds at most one user, the decoy standing in for "nobody", so an unknown
   * user and an existing one cost the same reads: handle 1, e-mail and phone 1, nick 2 (the
   * account named like the nick, and the nickname index).
   */
  async #candidateNames(elements: readonly PreparedElement[]): Promise<string[]> {
    const first = (type: PreparedElement["type"]) => elements.find((e) => e.type === type);
    const orDecoy = (names: readonly string[]): string[] => (names.length === 0 ? [DECOY_NAME] : [...names]);
    const handle = first("handle");
    if (handle !== undefined) {
      const name = this.#localName(handle);
      return orDecoy(name === undefined ? [] : [name]);
    }
    for (const type of ["email", "phone"] as const) {
      const e = first(type);
      if (e !== undefined) return orDecoy(e.valid ? await this.#profiles.indexed(type, e.value, MAX_INDEX_CANDIDATES) : []);
    }
    const nick = first("nick");
    if (nick !== undefined) {
      // MIMI-DISC-CHOICE-07: the user part of the handle is a nick too (protocol-06: "nickname or
      // handle user part"), besides the nicknames the user set.
      const direct = nick.valid && Accounts.validName(nick.value) ? nick.value : DECOY_NAME;
      return [direct, ...orDecoy(nick.valid ? await this.#profiles.indexed("nick", nick.value, MAX_INDEX_CANDIDATES) : [])];
    }
    return this.#profiles.allNames();
  }

  /** The local user name a canonical handle names, if it names one of this provider's users. */
  #localName(e: PreparedElement): string | undefined {
    if (!e.valid) return undefined;
    if (e.value.startsWith("im:")) {
      const at = e.value.lastIndexOf("@");
      const name = e.value.slice(3, at);
      return e.value.slice(at + 1) === this.#domain && Accounts.validName(name) ? name : undefined;
    }
    const parsed = tryParseMimiUri(e.value);
    const name = parsed?.segments[0];
    return parsed?.kind === "user" && parsed.host === this.#domain && name !== undefined && Accounts.validName(name) ? name : undefined;
  }
}
