// The provider-local client API (docs/CLIENT-API.md) as seen by the SDK: one method per call,
// binary values as bytes (the JSON `…B64` fields are encoded and decoded here). `HttpTransport`
// speaks HTTP with fetch; tests may pass any other ClientTransport.
import { MimiError, errorCatalogue } from "../../errors.ts";
import type { MimiErrorCode } from "../../errors.ts";
import { fromB64, toB64 } from "./util.ts";

export type RoomKind = "direct" | "group" | "channel";

export interface HubExternalSender {
  readonly signatureKey: Uint8Array;
  /** An RFC 9420 Credential (TLS encoding). */
  readonly credential: Uint8Array;
}

export interface ProviderInfo {
  readonly domain: string;
  readonly hubExternalSender: HubExternalSender;
  readonly cipherSuites: readonly number[];
  readonly roomKinds: readonly string[];
}

export interface MeInfo {
  readonly userUri: string;
  readonly provider: string;
  readonly devices: readonly string[];
}

export interface RoomTemplate {
  readonly roomId: string;
  readonly groupId: Uint8Array;
  readonly hubExternalSender: HubExternalSender;
  /** Encoded component data for the new group's app_data_dictionary. */
  readonly components: {
    readonly participantList: Uint8Array;
    readonly rolesList: Uint8Array;
    readonly baseRoomPolicy: Uint8Array;
    readonly roomMetadata?: Uint8Array;
  };
}

export interface RoomSummary {
  readonly roomId: string;
  readonly hub: string;
  readonly kind?: string;
  readonly epoch?: number;
}

/** One entry of GET /events. */
export interface ServerEvent {
  readonly seq: number;
  readonly type: "fanout" | "welcome";
  readonly roomId: string;
  readonly timestamp: number;
  /** One FanoutMessage (TLS encoding). */
  readonly fanout: Uint8Array;
  /** For welcomes: the KeyPackageRefs the Welcome is for. */
  readonly keyPackageRefs?: readonly Uint8Array[];
}

export interface ClientTransport {
  /** The bearer token used from now on. */
  setToken(token: string | undefined): void;
  register(user: string): Promise<{ userUri: string; token: string }>;
  me(): Promise<MeInfo>;
  provider(): Promise<ProviderInfo>;
  registerDevice(deviceId?: string): Promise<{ clientUri: string }>;
  /** Bare KeyPackages (RFC 9420 §10, as in KeyMaterialResponse). */
  uploadKeyPackages(keyPackages: readonly Uint8Array[], lastResort: boolean): Promise<{ stored: number }>;
  keyPackageCount(clientUri: string): Promise<{ available: number; lastResort: number }>;
  roomTemplate(kind: RoomKind, participants?: readonly string[]): Promise<RoomTemplate>;
  /** `groupInfo` is a bare GroupInfo (with external_pub, without ratchet_tree); `clientUri` the creating client. */
  createRoom(roomId: string, groupInfo: Uint8Array, ratchetTree: Uint8Array, clientUri: string): Promise<{ roomId: string; epoch: number }>;
  rooms(): Promise<RoomSummary[]>;
  /** KeyMaterialRequest in, KeyMaterialResponse out. */
  keyMaterial(roomId: string, request: Uint8Array): Promise<Uint8Array>;
  /** HandshakeBundle in, UpdateRoomResponse out. */
  update(roomId: string, bundle: Uint8Array): Promise<Uint8Array>;
  /** MLSMessage (application PrivateMessage) in, SubmitMessageResponse out. */
  submit(roomId: string, message: Uint8Array): Promise<Uint8Array>;
  /** GroupInfoRequest in, GroupInfoResponse out. */
  groupInfo(roomId: string, request: Uint8Array): Promise<Uint8Array>;
  /** Events after `after`, waiting up to `waitMs` for the first one (0: answer at once). */
  events(after: number, waitMs: number, signal?: AbortSignal): Promise<ServerEvent[]>;
  ack(clientUri: string, seq: number): Promise<void>;
}

/** `{roomId}` in client API paths: the URI without `mimi://`, each segment percent-encoded. */
export function roomPath(roomId: string): string {
  const rest = roomId.startsWith("mimi://") ? roomId.slice("mimi://".length) : roomId;
  return rest.split("/").map(encodeURIComponent).join("/");
}

export const CLIENT_API_BASE_PATH = "/client/v1";

export interface HttpTransportOptions {
  /** The client API base URL, e.g. http://127.0.0.1:8481 (the base path /client/v1 is added unless present). */
  readonly apiUrl: string;
  readonly token?: string;
  /** Per-request timeout in milliseconds (long polls add their wait). Default 30 s. */
  readonly timeoutMs?: number;
  readonly fetch?: typeof fetch;
}

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what}.${key} is not a string`);
  return v;
}

function num(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${what}.${key} is not a number`);
  return v;
}

function hubSender(v: unknown, what: string): HubExternalSender {
  const o = obj(v, what);
  return { signatureKey: fromB64(o["signatureKeyB64"], `${what}.signatureKeyB64`), credential: fromB64(o["credentialB64"], `${what}.credentialB64`) };
}

/**
 * GET /keyPackages/count: `{ available, lastResort }` for the device asked about, or (as the
 * provider answers today) an object with one such entry per client URI.
 */
export function parseKeyPackageCount(o: Record<string, unknown>, clientUri: string): { available: number; lastResort: number } {
  if (typeof o["available"] === "number") return { available: num(o, "available", "keyPackages count"), lastResort: typeof o["lastResort"] === "number" ? o["lastResort"] : 0 };
  const entry = o[clientUri];
  if (entry === undefined) return { available: 0, lastResort: 0 };
  const e = obj(entry, "keyPackages count entry");
  return { available: num(e, "available", "keyPackages count"), lastResort: num(e, "lastResort", "keyPackages count") };
}

/** Parses one event object of GET /events. */
export function parseServerEvent(v: unknown): ServerEvent {
  const o = obj(v, "event");
  const type = o["type"];
  if (type !== "fanout" && type !== "welcome") throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `event type ${String(type)} is unknown`);
  const seq = num(o, "seq", "event");
  if (!Number.isSafeInteger(seq) || seq <= 0) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "event seq is not a positive integer");
  const refs = o["keyPackageRefsB64"];
  return {
    seq,
    type,
    roomId: str(o, "roomId", "event"),
    timestamp: num(o, "timestamp", "event"),
    fanout: fromB64(o["fanoutB64"], "event.fanoutB64"),
    ...(Array.isArray(refs) ? { keyPackageRefs: refs.map((r, i) => fromB64(r, `event.keyPackageRefsB64[${i}]`)) } : {}),
  };
}

/** The client API over HTTP (JSON bodies, bearer token). */
export class HttpTransport implements ClientTransport {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  #token: string | undefined;

  constructor(options: HttpTransportOptions) {
    let base: URL;
    try {
      base = new URL(options.apiUrl);
    } catch (cause) {
      throw new MimiError("MIMI_ERR_CLI_USAGE", `the client API URL ${options.apiUrl} is not a URL`, { cause });
    }
    if (base.protocol !== "http:" && base.protocol !== "https:") throw new MimiError("MIMI_ERR_CLI_USAGE", "the client API URL must be http or https");
    let path = base.pathname.replace(/\/+$/, "");
    if (!path.endsWith(CLIENT_API_BASE_PATH)) path += CLIENT_API_BASE_PATH;
    this.#base = `${base.protocol}//${base.host}${path}`;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? fetch;
    this.#token = options.token;
  }

  get baseUrl(): string {
    return this.#base;
  }

  setToken(token: string | undefined): void {
    this.#token = token;
  }

  async #call(method: "GET" | "POST", path: string, body?: unknown, opts: { auth?: boolean; extraTimeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (opts.auth !== false) {
      if (this.#token === undefined) throw new MimiError("MIMI_ERR_SDK_NOT_REGISTERED", "no client token: register or log in first");
      headers["authorization"] = `Bearer ${this.#token}`;
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs + (opts.extraTimeoutMs ?? 0));
    const signal = opts.signal === undefined ? timeout : AbortSignal.any([timeout, opts.signal]);
    let res: Response;
    try {
      res = await this.#fetch(this.#base + path, { method, headers, signal, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (cause) {
      const aborted = opts.signal?.aborted === true;
      throw new MimiError("MIMI_ERR_SDK_UNREACHABLE", aborted ? `${method} ${path} was aborted` : `${method} ${path}: ${cause instanceof Error ? cause.message : String(cause)}`, {
        cause,
        details: { path, aborted },
      });
    }
    const text = await res.text();
    let json: unknown = undefined;
    if (text !== "") {
      try {
        json = JSON.parse(text);
      } catch (cause) {
        throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${method} ${path} answered ${res.status} with a body that is not JSON`, { cause, details: { status: res.status, path } });
      }
    }
    if (!res.ok) throw httpError(method, path, res.status, json);
    return json;
  }

  async register(user: string): Promise<{ userUri: string; token: string }> {
    const o = obj(await this.#call("POST", "/register", { user }, { auth: false }), "register answer");
    return { userUri: str(o, "userUri", "register answer"), token: str(o, "token", "register answer") };
  }

  async me(): Promise<MeInfo> {
    const o = obj(await this.#call("GET", "/me"), "me");
    const devices = o["devices"];
    return {
      userUri: str(o, "userUri", "me"),
      provider: str(o, "provider", "me"),
      devices: Array.isArray(devices) ? devices.filter((d): d is string => typeof d === "string") : [],
    };
  }

  async provider(): Promise<ProviderInfo> {
    const o = obj(await this.#call("GET", "/provider"), "provider");
    const suites = o["cipherSuites"];
    const kinds = o["roomKinds"];
    return {
      domain: str(o, "domain", "provider"),
      hubExternalSender: hubSender(o["hubExternalSender"], "provider.hubExternalSender"),
      cipherSuites: Array.isArray(suites) ? suites.filter((s): s is number => typeof s === "number") : [1],
      roomKinds: Array.isArray(kinds) ? kinds.filter((s): s is string => typeof s === "string") : [],
    };
  }

  async registerDevice(deviceId?: string): Promise<{ clientUri: string }> {
    const o = obj(await this.#call("POST", "/devices", deviceId === undefined ? {} : { deviceId }), "devices answer");
    return { clientUri: str(o, "clientUri", "devices answer") };
  }

  async uploadKeyPackages(keyPackages: readonly Uint8Array[], lastResort: boolean): Promise<{ stored: number }> {
    const o = obj(await this.#call("POST", "/keyPackages", { keyPackagesB64: keyPackages.map(toB64), lastResort }), "keyPackages answer");
    return { stored: num(o, "stored", "keyPackages answer") };
  }

  async keyPackageCount(clientUri: string): Promise<{ available: number; lastResort: number }> {
    const o = obj(await this.#call("GET", `/keyPackages/count?clientUri=${encodeURIComponent(clientUri)}`), "keyPackages count");
    return parseKeyPackageCount(o, clientUri);
  }

  async roomTemplate(kind: RoomKind, participants?: readonly string[]): Promise<RoomTemplate> {
    const o = obj(await this.#call("POST", "/rooms/template", participants === undefined ? { kind } : { kind, participants }), "room template");
    const c = obj(o["components"], "room template components");
    const meta = c["roomMetadataB64"];
    return {
      roomId: str(o, "roomId", "room template"),
      groupId: fromB64(o["groupIdB64"], "groupIdB64"),
      hubExternalSender: hubSender(o["hubExternalSender"], "room template hubExternalSender"),
      components: {
        participantList: fromB64(c["participantListB64"], "participantListB64"),
        rolesList: fromB64(c["rolesListB64"], "rolesListB64"),
        baseRoomPolicy: fromB64(c["baseRoomPolicyB64"], "baseRoomPolicyB64"),
        ...(typeof meta === "string" ? { roomMetadata: fromB64(meta, "roomMetadataB64") } : {}),
      },
    };
  }

  async createRoom(roomId: string, groupInfo: Uint8Array, ratchetTree: Uint8Array, clientUri: string): Promise<{ roomId: string; epoch: number }> {
    const o = obj(await this.#call("POST", "/rooms", { roomId, clientUri, groupInfoB64: toB64(groupInfo), ratchetTreeB64: toB64(ratchetTree) }), "rooms answer");
    return { roomId: str(o, "roomId", "rooms answer"), epoch: typeof o["epoch"] === "number" ? o["epoch"] : 0 };
  }

  async rooms(): Promise<RoomSummary[]> {
    const list = await this.#call("GET", "/rooms");
    if (!Array.isArray(list)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "GET /rooms did not answer an array");
    return list.map((v) => {
      const o = obj(v, "room");
      return {
        roomId: str(o, "roomId", "room"),
        hub: typeof o["hub"] === "string" ? o["hub"] : "",
        ...(typeof o["kind"] === "string" ? { kind: o["kind"] } : {}),
        ...(typeof o["epoch"] === "number" ? { epoch: o["epoch"] } : {}),
      };
    });
  }

  async #b64Call(path: string, field: string, bytes: Uint8Array): Promise<Uint8Array> {
    const o = obj(await this.#call("POST", path, { [field]: toB64(bytes) }), `${path} answer`);
    return fromB64(o["responseB64"], `${path} responseB64`);
  }

  keyMaterial(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return this.#b64Call(`/rooms/${roomPath(roomId)}/keyMaterial`, "requestB64", request);
  }

  update(roomId: string, bundle: Uint8Array): Promise<Uint8Array> {
    return this.#b64Call(`/rooms/${roomPath(roomId)}/update`, "bundleB64", bundle);
  }

  submit(roomId: string, message: Uint8Array): Promise<Uint8Array> {
    return this.#b64Call(`/rooms/${roomPath(roomId)}/submit`, "messageB64", message);
  }

  groupInfo(roomId: string, request: Uint8Array): Promise<Uint8Array> {
    return this.#b64Call(`/rooms/${roomPath(roomId)}/groupInfo`, "requestB64", request);
  }

  async events(after: number, waitMs: number, signal?: AbortSignal): Promise<ServerEvent[]> {
    const list = await this.#call("GET", `/events?after=${after}&wait=${Math.max(0, Math.floor(waitMs))}`, undefined, {
      extraTimeoutMs: waitMs,
      ...(signal === undefined ? {} : { signal }),
    });
    if (!Array.isArray(list)) throw new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", "GET /events did not answer an array");
    return list.map(parseServerEvent);
  }

  async ack(clientUri: string, seq: number): Promise<void> {
    await this.#call("POST", "/events/ack", { clientUri, seq });
  }
}

/** The MimiError for an HTTP error answer: the catalogue's code when the provider names one. */
export function httpError(method: string, path: string, status: number, body: unknown): MimiError {
  const o = typeof body === "object" && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const code = o["code"];
  const message = typeof o["message"] === "string" ? o["message"] : `${method} ${path} answered ${status}`;
  const details: Record<string, unknown> = { status, path };
  if (typeof o["details"] === "object" && o["details"] !== null) details["provider"] = o["details"];
  for (const [k, v] of Object.entries(o)) if (k !== "code" && k !== "message" && k !== "details") details[k] = v;
  if (typeof code === "string" && Object.hasOwn(errorCatalogue, code)) return new MimiError(code as MimiErrorCode, message, { details });
  return new MimiError("MIMI_ERR_SDK_BAD_RESPONSE", `${method} ${path} answered ${status}${typeof code === "string" ? ` ${code}` : ""}: ${message}`, { details });
}
