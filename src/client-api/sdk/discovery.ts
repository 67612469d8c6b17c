// Discovery in the SDK (docs/SDK.md "Discovery"): the client API's /client/v1/discovery/… calls
// (docs/CLIENT-API.md "Discovery"). MimiClient exposes them as methods (profile, updateProfile,
// setSearchability, publishMapping, removeMapping, mappings, search, discover, connect,
// discoveryInfo); this module can also be used on its own with a token.
import { MimiError } from "../../errors.ts";
import type { ConnectResult, DiscoverResult, Profile, ProfileChange, PublishedMapping, SearchElementInput, SearchResult, Searchability } from "../../discovery/index.ts";
import { CLIENT_API_BASE_PATH, httpError } from "./transport.ts";

export type { ConnectResult, DiscoverResult, Profile, ProfileChange, PublishedMapping, SearchElementInput, SearchResult, Searchability };

/** GET /discovery: how this provider does discovery. */
export interface DiscoveryInfo {
  readonly mode: "ssiOnly" | "separate" | "integrated";
  readonly defaultSearchability: Searchability;
  /** Whether this provider runs a discovery service itself. */
  readonly service: boolean;
  /** The discovery providers it publishes to and queries. */
  readonly discoveryProviders: readonly string[];
  readonly identifierQuery: boolean;
}

export interface RemoveMappingResult {
  readonly sii: string;
  readonly removed: number;
  readonly providers: PublishedMapping["providers"];
}

export interface ConnectOptions {
  /** Request consent only from the mappings with these preference tags (case-insensitive). */
  readonly tags?: readonly string[];
  /** … or with these SSIs. Neither: every mapping. */
  readonly ssis?: readonly string[];
  /** Scope the consent request to one room (protocol-06 §5.7 ConsentScope). */
  readonly roomId?: string;
}

export interface DiscoveryClientOptions {
  /** The client API base URL, e.g. http://127.0.0.1:8481. */
  readonly apiUrl: string;
  /** The bearer token, or a function giving it (asked on every call). */
  readonly token: string | (() => Promise<string | undefined> | string | undefined);
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function expect<T>(v: unknown, what: string, keys: readonly string[]): T {
  const o = object(v, what);
  for (const k of keys) if (!(k in o)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what} has no ${k}`);
  return o as T;
}

export class DiscoveryClient {
  readonly #base: string;
  readonly #token: () => Promise<string | undefined> | string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(o: DiscoveryClientOptions) {
    let base: URL;
    try {
      base = new URL(o.apiUrl);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_CLI_USAGE", `the client API URL ${o.apiUrl} is not a URL`, { cause });
    }
    let path = base.pathname.replace(/\/+$/, "");
    if (!path.endsWith(CLIENT_API_BASE_PATH)) path += CLIENT_API_BASE_PATH;
    this.#base = `${base.protocol}//${base.host}${path}`;
    const token = o.token;
    this.#token = typeof token === "string" ? () => token : token;
    this.#timeoutMs = o.timeoutMs ?? 60_000;
    this.#fetch = o.fetch ?? fetch;
  }

  async #call(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<unknown> {
    const token = await this.#token();
    if (token === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED", "no client token: register or log in first");
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await this.#fetch(this.#base + path, { method, headers, signal: AbortSignal.timeout(this.#timeoutMs), ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (cause) {
      throw new MimiError("MIMI_ERR_SDK_UNREACHABLE", `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, details: { path } });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? undefined : JSON.parse(text);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${method} ${path} answered ${res.status} with a body that is not JSON`, { cause, details: { status: res.status, path } });
    }
    if (!res.ok) {
      const err = httpError(method, path, res.status, json);
      const retry = res.headers.get("retry-after");
      if (retry !== null && err.details !== undefined) err.details["retryAfterSeconds"] = Number(retry);
      throw err;
    }
    return json;
  }

  async info(): Promise<DiscoveryInfo> {
    return expect<DiscoveryInfo>(await this.#call("GET", "/discovery"), "discovery info", ["mode", "discoveryProviders"]);
  }

  async profile(): Promise<Profile> {
    return expect<Profile>(await this.#call("GET", "/discovery/profile"), "profile", ["userUri", "searchability"]);
  }

  /** Changes profile fields; absent fields stay, `email: null` / `phone: null` clear them. */
  async updateProfile(change: ProfileChange): Promise<Profile> {
    return expect<Profile>(await this.#call("PUT", "/discovery/profile", change), "profile", ["userUri", "searchability"]);
  }

  /** name (found by name, nick, e-mail, phone, profile), handle (only by exact handle) or none. */
  async setSearchability(searchability: Searchability): Promise<Profile> {
    return expect<Profile>(await this.#call("PUT", "/discovery/searchability", { searchability }), "profile", ["userUri", "searchability"]);
  }

  /** Publishes a signed mapping of one of the user's own SIIs (tel:/mailto:) to this account. */
  async publishMapping(sii: string, tag = "Personal"): Promise<PublishedMapping> {
    return expect<PublishedMapping>(await this.#call("POST", "/discovery/mappings", { sii, tag }), "mapping", ["sii", "ssi", "tag", "providers"]);
  }

  /** Removes the user's mapping of an SII (one tag, or every tag). */
  async removeMapping(sii: string, tag?: string): Promise<RemoveMappingResult> {
    return expect<RemoveMappingResult>(await this.#call("POST", "/discovery/mappings/remove", tag === undefined ? { sii } : { sii, tag }), "removal", ["sii", "removed"]);
  }

  async mappings(): Promise<PublishedMapping[]> {
    const list = await this.#call("GET", "/discovery/mappings");
    if (!Array.isArray(list)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "GET /discovery/mappings did not answer an array");
    return list.map((m, i) => expect<PublishedMapping>(m, `mappings[${i}]`, ["sii", "tag"]));
  }

  /** identifierQuery (protocol-06 §5.8) through this provider to `domain`; all elements must match. */
  async search(domain: string, elements: readonly SearchElementInput[]): Promise<SearchResult> {
    return expect<SearchResult>(await this.#call("POST", "/discovery/search", { domain, elements }), "search result", ["code", "uris", "profiles"]);
  }

  /** An SSI as it is, or an SII (tel:/mailto:) resolved to verified SSIs. */
  async discover(identifier: string): Promise<DiscoverResult> {
    return expect<DiscoverResult>(await this.#call("POST", "/discovery/discover", { identifier }), "discover result", ["kind", "identifier", "mappings"]);
  }

  /** Integrated mode: resolve and send consent requests to the picked mappings in one call. */
  async connect(identifier: string, options: ConnectOptions = {}): Promise<ConnectResult> {
    return expect<ConnectResult>(await this.#call("POST", "/discovery/connect", { identifier, ...options }), "connect result", ["kind", "mappings", "requests"]);
  }
}
