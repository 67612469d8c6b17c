// Consent in the SDK (docs/SDK.md "Consent", docs/CLIENT-API.md "Consent"): the client API's
// /consent calls (protocol-06 §5.7 through the user's own provider) and what addUser needs of
// them: a clear error when the target's provider answers noConsent, and the KeyPackages a grant
// carried. MimiClient exposes these as consentRequest, consentCancel, consentGrant,
// consentRevoke, consentList and setPreConsentPolicy.
import { MimiError } from "../../errors.ts";
import { inspectMessage } from "../../mls/index.ts";
import { asKeyPackage, keyPackageToMlsMessage } from "../../mls/wire.ts";
import { CLIENT_API_BASE_PATH, httpError } from "./transport.ts";
import { fromB64 } from "./util.ts";

export type PreConsentPolicy = "off" | "none" | "keypackages" | "quarantine";
export type ConsentState = "requested" | "granted" | "revoked" | "cancelled" | "expired";

/** One ConsentScope as the user's provider knows it. */
export interface ConsentRecordInfo {
  readonly direction: "incoming" | "outgoing";
  readonly requester: string;
  readonly target: string;
  readonly roomId?: string;
  readonly state: ConsentState;
  /** request, grant (unsolicited), revoke (preemptive denial) or keyMaterial (a claim before consent). */
  readonly origin: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly requestedAt?: number;
  readonly grantedAt?: number;
  readonly endedAt?: number;
  readonly expiresAt?: number;
  /** Outgoing: KeyPackages the grant carried, not used yet; incoming: KeyPackages sent with our grant. */
  readonly keyPackages: number;
}

/** What the target's provider holds for the user, by room (only the fields its policy shows). */
export interface HeldInfo {
  readonly roomId?: string;
  readonly requester?: string;
  readonly count?: number;
  readonly bytes?: number;
  readonly firstAt?: number;
  readonly lastAt?: number;
  readonly dropped?: number;
  readonly policy: "keypackages" | "quarantine";
  readonly void: boolean;
}

export interface ConsentList {
  readonly policy: { readonly effective: PreConsentPolicy; readonly user: PreConsentPolicy | null; readonly providerDefault: PreConsentPolicy; readonly userOverride: boolean };
  readonly incoming: readonly ConsentRecordInfo[];
  readonly outgoing: readonly ConsentRecordInfo[];
  /** Incoming requests waiting for an answer, each with what is held from that requester. */
  readonly pending: readonly (ConsentRecordInfo & { readonly held: readonly HeldInfo[] })[];
  readonly held: readonly HeldInfo[];
}

export interface ConsentApiOptions {
  readonly apiUrl: string;
  /** The bearer token (read at each call). */
  readonly token: () => Promise<string | undefined>;
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

/** The /client/v1/consent calls. */
export class ConsentApi {
  readonly #base: string;
  readonly #o: ConsentApiOptions;

  constructor(o: ConsentApiOptions) {
    let url: URL;
    try {
      url = new URL(o.apiUrl);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_CLI_USAGE", `the client API URL ${o.apiUrl} is not a URL`, { cause });
    }
    let path = url.pathname.replace(/\/+$/, "");
    if (!path.endsWith(CLIENT_API_BASE_PATH)) path += CLIENT_API_BASE_PATH;
    this.#base = `${url.protocol}//${url.host}${path}`;
    this.#o = o;
  }

  async #call(method: "GET" | "POST" | "PUT", path: string, body?: Record<string, unknown>): Promise<Record<string, unknown>> {
    const token = await this.#o.token();
    if (token === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED", "no client token: register or log in first");
    const headers: Record<string, string> = { accept: "application/json", authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res: Response;
    try {
      res = await (this.#o.fetch ?? fetch)(this.#base + path, {
        method,
        headers,
        signal: AbortSignal.timeout(this.#o.timeoutMs ?? 30_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (cause) {
      throw new MimiError("MIMI_ERR_SDK_UNREACHABLE", `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause, details: { path } });
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text === "" ? {} : JSON.parse(text);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${method} ${path} answered ${res.status} with a body that is not JSON`, { cause });
    }
    if (!res.ok) throw httpError(method, path, res.status, json);
    if (json === null || typeof json !== "object" || Array.isArray(json)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${method} ${path} did not answer a JSON object`);
    return json as Record<string, unknown>;
  }

  /** Asks `target` for consent (one room, or connection-wide); `bilateral` also grants consent back. */
  async request(target: string, options: { readonly roomId?: string; readonly bilateral?: boolean } = {}): Promise<{ record: ConsentRecordInfo; delivered: boolean }> {
    const o = await this.#call("POST", "/consent/request", { target, ...options });
    return o as unknown as { record: ConsentRecordInfo; delivered: boolean };
  }

  async cancel(target: string, options: { readonly roomId?: string } = {}): Promise<{ record: ConsentRecordInfo }> {
    return (await this.#call("POST", "/consent/cancel", { target, ...options })) as unknown as { record: ConsentRecordInfo };
  }

  async grant(requester: string, options: { readonly roomId?: string; readonly withKeyPackages?: boolean } = {}): Promise<{ record: ConsentRecordInfo; keyPackages: number; notified: boolean; released: number }> {
    return (await this.#call("POST", "/consent/grant", { requester, ...options })) as unknown as { record: ConsentRecordInfo; keyPackages: number; notified: boolean; released: number };
  }

  async revoke(requester: string, options: { readonly roomId?: string; readonly notify?: boolean } = {}): Promise<{ record: ConsentRecordInfo; notified: boolean; dropped: number }> {
    return (await this.#call("POST", "/consent/revoke", { requester, ...options })) as unknown as { record: ConsentRecordInfo; notified: boolean; dropped: number };
  }

  async list(): Promise<ConsentList> {
    return (await this.#call("GET", "/consent")) as unknown as ConsentList;
  }

  async setPolicy(policy: PreConsentPolicy | "default"): Promise<{ effective: PreConsentPolicy; user: PreConsentPolicy | null }> {
    return (await this.#call("PUT", "/consent/policy", { preConsent: policy })) as unknown as { effective: PreConsentPolicy; user: PreConsentPolicy | null };
  }

  /**
   * The KeyPackages a grant of `target` carried, for adding it to `roomId` (a room hosted by our
   * provider), each handed out once; as MLSMessage bytes for the MLS facade, each checked to be a
   * KeyPackage of a client of `target`.
   */
  async takeKeyPackages(target: string, roomId: string): Promise<Uint8Array[]> {
    const o = await this.#call("POST", "/consent/keyPackages", { target, roomId });
    const list = o["keyPackagesB64"];
    if (!Array.isArray(list)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "keyPackagesB64 is not a list");
    return list.map((v, i) => {
      const message = keyPackageToMlsMessage(asKeyPackage(fromB64(v, `keyPackagesB64[${i}]`))).bytes;
      const info = inspectMessage(message);
      if (info.wireFormat !== "key_package" || info.identity?.kind !== "client" || info.identity.userUri !== target) {
        throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `a KeyPackage granted by ${target} belongs to another user`);
      }
      return message;
    });
  }
}

/**
 * The error for a keyMaterial answer without KeyPackages. noConsent / noConsentForThisRoom (protocol-06
 * §5.7: the target's provider enforces consent) become MIMI_ERR_CONSENT_REQUIRED, which says what to do.
 */
export function keyMaterialRefusal(user: string, roomId: string, userStatus: string): MimiError {
  if (userStatus === "noConsent" || userStatus === "noConsentForThisRoom") {
    return new MimiError(
      "MIMI_ERR_CONSENT_REQUIRED",
      `${user} has not consented to be added${userStatus === "noConsentForThisRoom" ? ` to ${roomId}` : ""} (${userStatus}); ask first with consentRequest("${user}"${userStatus === "noConsentForThisRoom" ? `, { roomId: "${roomId}" }` : ""}) and add the user once it is granted`,
      { details: { user, roomId, userStatus } },
    );
  }
  return new MimiError("MIMI_ERR_SDK_NO_KEY_MATERIAL", `no KeyPackages for ${user}: ${userStatus}`, { details: { user, userStatus } });
}
