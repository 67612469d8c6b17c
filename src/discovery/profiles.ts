// Profiles and searchability of local users, stored in the `discovery` namespace, with exact-match
// indexes for identifierQuery (protocol-06 §5.8):
//
//   profile/<name>                       → StoredProfile (absent: an empty profile)
//   idx/<type>/<sha256(value)>/<name>    → "" for type nick, email, phone
//
// Index values are hashed so that any text can sit in a key and no prefix of one value is the
// prefix of another. A user's account (src/accounts) is the source of truth for existence; a
// profile without an account is never found.
import { createHash } from "node:crypto";
import type { Accounts, UserRecord } from "../accounts/accounts.ts";
import { MimiError } from "../errors.ts";
import { userUri } from "../ids/index.ts";
import { cborCodec } from "../storage/index.ts";
import type { BatchOp, Store, TypedNamespace } from "../storage/index.ts";
import { applyProfileChange, emptyProfile, searchView } from "./profile.ts";
import type { Profile, ProfileChange, SearchView, Searchability, StoredProfile } from "./profile.ts";

export type IndexedType = "nick" | "email" | "phone";

/**
 * A name no account can have (account names are [a-z0-9][a-z0-9._-]*): looked up in place of a
 * missing candidate so that "no such user" costs the same reads as "user found" (MIMI-DISC-07).
 */
export const DECOY_NAME = "~decoy";

// MIMI-DISC-07: what a missing record costs instead of nothing: the bytes of a typical account and
// profile, decoded like a stored one, so that an unknown user is not answered faster than a known
// one (bench/discovery.ts measures the difference).
const recordCodec = cborCodec<unknown>();
const DECOY_ACCOUNT_BYTES = recordCodec.encode({ name: DECOY_NAME, userUri: "mimi://decoy.invalid/u/decoy", tokenHash: new Uint8Array(32), createdAt: 0 });
const DECOY_PROFILE: StoredProfile = {
  displayNames: ["Decoy Example"],
  nicks: ["decoy"],
  email: "decoy@decoy.invalid",
  phone: "+10000000000",
  oidc: {},
  vcard: {},
  searchability: "none",
  updatedAt: 0,
};
const DECOY_PROFILE_BYTES = recordCodec.encode(DECOY_PROFILE);

export function indexKeyPrefix(type: IndexedType, value: string): string {
  return `idx/${type}/${createHash("sha256").update(value, "utf8").digest("hex")}/`;
}

/** One loaded candidate: whether it is a real account, and its searchable view. */
export interface Candidate {
  readonly real: boolean;
  readonly name: string;
  readonly view: SearchView;
  readonly profile: StoredProfile;
}

export class ProfileStore {
  readonly #store: Store;
  readonly #accounts: Accounts;
  readonly #domain: string;
  readonly #default: Searchability;
  readonly #ns: TypedNamespace<unknown>;
  readonly #decoyUri: string;

  constructor(o: { store: Store; accounts: Accounts; domain: string; defaultSearchability: Searchability }) {
    this.#store = o.store;
    this.#accounts = o.accounts;
    this.#domain = o.domain;
    this.#default = o.defaultSearchability;
    this.#ns = o.store.namespace("discovery").typed(cborCodec<unknown>());
    this.#decoyUri = userUri(o.domain, "decoy");
  }

  get defaultSearchability(): Searchability {
    return this.#default;
  }

  async #stored(name: string): Promise<StoredProfile | undefined> {
    return (await this.#ns.get(`profile/${name}`)) as StoredProfile | undefined;
  }

  #toProfile(user: UserRecord, p: StoredProfile): Profile {
    return {
      userUri: user.userUri,
      name: user.name,
      displayNames: p.displayNames,
      nicks: p.nicks,
      ...(p.email === undefined ? {} : { email: p.email }),
      ...(p.phone === undefined ? {} : { phone: p.phone }),
      oidc: p.oidc,
      vcard: p.vcard,
      searchability: p.searchability ?? this.#default,
      searchabilityChosen: p.searchability !== undefined,
    };
  }

  /** The profile of a local user (an empty one until the user sets something). */
  async get(name: string): Promise<Profile> {
    const user = await this.#accounts.getUser(name);
    if (user === undefined) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED", `no user ${name}`);
    return this.#toProfile(user, (await this.#stored(name)) ?? emptyProfile());
  }

  /** The stored profile of a local user, for building ProfileFields. */
  async stored(name: string): Promise<StoredProfile> {
    return (await this.#stored(name)) ?? emptyProfile();
  }

  /** Changes a user's profile and its index entries in one atomic batch. */
  async update(name: string, change: ProfileChange): Promise<Profile> {
    const user = await this.#accounts.getUser(name);
    if (user === undefined) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED", `no user ${name}`);
    return this.#store.withLock(`discovery:profile:${name}`, async () => {
      const current = (await this.#stored(name)) ?? emptyProfile();
      const next = applyProfileChange(current, change, Date.now());
      const ops: BatchOp[] = [];
      const entries = (p: StoredProfile): string[] => [
        ...p.nicks.map((n) => indexKeyPrefix("nick", n) + name),
        ...(p.email === undefined ? [] : [indexKeyPrefix("email", p.email) + name]),
        ...(p.phone === undefined ? [] : [indexKeyPrefix("phone", p.phone) + name]),
      ];
      const before = new Set(entries(current));
      const after = new Set(entries(next));
      for (const k of before) if (!after.has(k)) ops.push(this.#ns.delOp(k));
      for (const k of after) if (!before.has(k)) ops.push(this.#ns.putOp(k, ""));
      ops.push(this.#ns.putOp(`profile/${name}`, next));
      await this.#store.batch(ops);
      return this.#toProfile(user, next);
    });
  }

  /** Names whose index holds `value` for `type` (at most `limit`). */
  async indexed(type: IndexedType, value: string, limit: number): Promise<string[]> {
    const prefix = indexKeyPrefix(type, value);
    const out: string[] = [];
    for await (const key of this.#ns.keys({ prefix, limit })) out.push(key.slice(prefix.length));
    return out;
  }

  /** Every local user name (for the substring and claim searches, which look at every profile). */
  async allNames(): Promise<string[]> {
    return (await this.#accounts.listUsers()).map((u) => u.name);
  }

  /**
   * Loads candidates: account and profile of each name, two reads per name. An empty list loads the
   * decoy instead (MIMI-DISC-07), which is never real.
   */
  async load(names: readonly string[]): Promise<Candidate[]> {
    const list = names.length === 0 ? [DECOY_NAME] : names;
    const out: Candidate[] = [];
    for (const name of list) {
      const [account, stored] = await Promise.all([this.#accounts.getUser(name), this.#stored(name)]);
      if (account === undefined) recordCodec.decode(DECOY_ACCOUNT_BYTES);
      const decoy = stored === undefined ? (recordCodec.decode(DECOY_PROFILE_BYTES) as StoredProfile) : undefined;
      // A real account without a profile has the empty one; anything else unknown gets the decoy's,
      // whose view is built and matched like any other (it can never be `real`).
      const profile = stored ?? (account === undefined ? (decoy ?? emptyProfile()) : emptyProfile());
      const uri = account?.userUri ?? this.#decoyUri;
      out.push({ real: account !== undefined && name !== DECOY_NAME, name, view: searchView(this.#domain, name, uri, profile, this.#default), profile });
    }
    return out;
  }
}
