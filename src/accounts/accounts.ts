// Local accounts of native MIMI users: a user name under this provider's domain, a bearer token
// for the client API (stored only as its SHA-256), and the user's devices (MLS clients).
//
// Key layout in the `accounts` namespace:
//   user/<name>            → UserRecord
//   token/<sha256 hex>     → <name>
//   device/<name>/<device> → DeviceRecord
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { MimiError } from "../errors.ts";
import { deviceUri, userUri, type MimiUri } from "../ids/index.ts";
import { cborCodec, type Store, type TypedNamespace } from "../storage/index.ts";

export interface UserRecord {
  name: string;
  userUri: string;
  tokenHash: Uint8Array;
  createdAt: number;
}

export interface DeviceRecord {
  clientUri: string;
  deviceId: string;
  createdAt: number;
}

/** Names and device IDs are single URI segments of a conservative alphabet. */
const NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const DEVICE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const TOKEN_PREFIX = "mimi_";

function hashToken(token: string): Uint8Array {
  return createHash("sha256").update(token, "utf8").digest();
}

export class Accounts {
  readonly domain: string;
  readonly #store: Store;
  readonly #ns: TypedNamespace<unknown>;

  constructor(store: Store, domain: string) {
    this.domain = domain;
    this.#store = store;
    this.#ns = store.namespace("accounts").typed(cborCodec<unknown>());
  }

  static validName(name: string): boolean {
    return NAME_PATTERN.test(name);
  }

  /** Creates a user and returns its token (shown once; only its hash is stored). */
  async createUser(name: string): Promise<{ userUri: MimiUri; token: string }> {
    if (!Accounts.validName(name)) {
      throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `user names are 1-64 characters of a-z 0-9 . _ - starting with a letter or digit: ${JSON.stringify(name)}`);
    }
    const token = TOKEN_PREFIX + randomBytes(32).toString("base64url");
    const tokenHash = hashToken(token);
    const uri = userUri(this.domain, name);
    const record: UserRecord = { name, userUri: uri, tokenHash, createdAt: Date.now() };
    await this.#store.withLock(`accounts:user:${name}`, async () => {
      if (await this.#ns.has(`user/${name}`)) {
        throw new MimiError("MIMI_ERR_CLIENT_USER_EXISTS", `user ${name} already exists`);
      }
      await this.#store.batch([this.#ns.putOp(`user/${name}`, record), this.#ns.putOp(`token/${Buffer.from(tokenHash).toString("hex")}`, name)]);
    });
    return { userUri: uri, token };
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    return (await this.#ns.get(`user/${name}`)) as UserRecord | undefined;
  }

  async listUsers(): Promise<UserRecord[]> {
    const out: UserRecord[] = [];
    for await (const { value } of this.#ns.iterate({ prefix: "user/" })) out.push(value as UserRecord);
    return out;
  }

  /** The user a bearer token belongs to, or undefined. Compares hashes in constant time. */
  async authenticate(token: string | undefined): Promise<UserRecord | undefined> {
    if (token === undefined || !token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const name = (await this.#ns.get(`token/${Buffer.from(hash).toString("hex")}`)) as string | undefined;
    if (name === undefined) return undefined;
    const user = await this.getUser(name);
    if (user === undefined) return undefined;
    const stored = Buffer.from(user.tokenHash);
    return stored.length === hash.length && timingSafeEqual(stored, hash) ? user : undefined;
  }

  /** Registers a device (an MLS client) of a user; idempotent. */
  async addDevice(name: string, deviceId?: string): Promise<DeviceRecord> {
    const id = deviceId ?? randomBytes(8).toString("hex");
    if (!DEVICE_PATTERN.test(id)) {
      throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", `device IDs are 1-64 characters of A-Z a-z 0-9 . _ -: ${JSON.stringify(id)}`);
    }
    if (!(await this.getUser(name))) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED", `no user ${name}`);
    const key = `device/${name}/${id}`;
    const existing = (await this.#ns.get(key)) as DeviceRecord | undefined;
    if (existing) return existing;
    const record: DeviceRecord = { clientUri: deviceUri(this.domain, name, id), deviceId: id, createdAt: Date.now() };
    await this.#ns.put(key, record, { sync: true });
    return record;
  }

  async devices(name: string): Promise<DeviceRecord[]> {
    const out: DeviceRecord[] = [];
    for await (const { value } of this.#ns.iterate({ prefix: `device/${name}/` })) out.push(value as DeviceRecord);
    return out;
  }

  async hasDevice(name: string, clientUri: string): Promise<boolean> {
    return (await this.devices(name)).some((d) => d.clientUri === clientUri);
  }
}
