// keyMaterial as the TARGET provider (draft-ietf-mimi-protocol-06 §5.2): claims one KeyPackage
// per client of a local user and answers with a KeyMaterialResponse. Consent is checked through
// the ConsentGate (protocol-06 §5.7: the target's provider enforces consent when it answers
// keyMaterial); src/consent/ provides the real gate, `openConsentGate` admits everything (the
// behaviour of `consent.preConsent: off`).
import { encode, decodeExact } from "../codec/index.ts";
import type { Accounts } from "../accounts/accounts.ts";
import { providerOf, parseUserUri } from "../ids/index.ts";
import type { Logger } from "../log.ts";
import {
  KeyMaterialClientCode,
  KeyMaterialRequest,
  KeyMaterialResponse,
  KeyMaterialUserCode,
  Protocol,
  type ClientKeyMaterial,
} from "../protocol/index.ts";
import { asKeyPackage } from "../mls/wire.ts";
import type { ClaimedKeyPackage, KeyPackageStore } from "./keyPackageStore.ts";

/**
 * A claim the consent layer admits, with the terms it sets: whether last-resort KeyPackages may be
 * handed out, how many ordinary KeyPackages of each client must stay (the reserve for consented
 * contacts), and what to record once the claim is made (pre-consent claims: requester ↔ room ↔
 * KeyPackageRef, for the quarantine of the Welcome that follows).
 */
export interface ClaimAdmission {
  readonly kind: "admit";
  readonly preConsent: boolean;
  readonly allowLastResort: boolean;
  readonly reserve: number;
  claimed?(claimed: readonly ClaimedKeyPackage[]): Promise<void>;
}

/** The decision of the consent layer for one keyMaterial request. */
export type ConsentDecision = "granted" | "noConsent" | "noConsentForThisRoom" | ClaimAdmission;

export interface ConsentGate {
  keyMaterial(requester: string, target: string, roomId: string | undefined): Promise<ConsentDecision>;
  /**
   * The user code for a target this provider does not know: userUnknown, or noConsent so that an
   * unknown user and one who declined look the same (MIMI-PROTO-CONSENT-08). Default userUnknown.
   */
  unknownTarget?(requester: string, target: string): "userUnknown" | "noConsent";
  /**
   * For a target without an account: creates it when a platform behind this provider has the
   * user (a bridged user who never used the bridge), true if it exists now. `requester` is who
   * claims (lookups are rate-limited per requesting provider). Optional.
   */
  provision?(target: string, requester: string): Promise<boolean>;
}

/** Admits everything: the behaviour before consent enforcement (issue 4). */
export const openConsentGate: ConsentGate = { keyMaterial: () => Promise.resolve("granted") };

export interface KeyMaterialServiceOptions {
  domain: string;
  accounts: Accounts;
  keyPackages: KeyPackageStore;
  logger: Logger;
  consent?: ConsentGate;
  /** Whether last-resort KeyPackages may be handed out (policy; default true). */
  allowLastResort?: boolean;
}

export class KeyMaterialService {
  readonly #o: KeyMaterialServiceOptions;
  readonly #log: Logger;

  constructor(options: KeyMaterialServiceOptions) {
    this.#o = options;
    this.#log = options.logger.child({ component: "keyMaterial" });
  }

  #respond(userStatus: number, userUri: string, clients: ClientKeyMaterial[] = []): Uint8Array {
    return encode(KeyMaterialResponse, { protocol: Protocol.mls10, userStatus, userUri: { uri: userUri }, clients } as KeyMaterialResponse);
  }

  /** Answers a KeyMaterialRequest for a user of this provider. */
  async answer(body: Uint8Array): Promise<Uint8Array> {
    const request = decodeExact(KeyMaterialRequest, body);
    const target = request.targetUser.uri;
    if (providerOf(target) !== this.#o.domain) return this.#respond(KeyMaterialUserCode.userUnknown, target);
    const gate = this.#o.consent ?? openConsentGate;
    const { user } = parseUserUri(target);
    let account = await this.#o.accounts.getUser(user);
    if (!account && (await gate.provision?.(target, request.requestingUser.uri)) === true) account = await this.#o.accounts.getUser(user);
    if (!account) {
      const code = gate.unknownTarget?.(request.requestingUser.uri, target) ?? "userUnknown";
      return this.#respond(code === "noConsent" ? KeyMaterialUserCode.noConsent : KeyMaterialUserCode.userUnknown, target);
    }
    const roomId = request.roomId.uri === "" ? undefined : request.roomId.uri;
    const consent = await gate.keyMaterial(request.requestingUser.uri, target, roomId);
    if (consent === "noConsent" || consent === "noConsentForThisRoom") {
      return this.#respond(consent === "noConsentForThisRoom" ? KeyMaterialUserCode.noConsentForThisRoom : KeyMaterialUserCode.noConsent, target);
    }
    const terms = consent === "granted" ? undefined : consent;
    const devices = await this.#o.accounts.devices(user);
    const claimed = await this.#o.keyPackages.claim(
      user,
      devices.map((d) => d.clientUri),
      {
        cipherSuites: request.acceptableCiphersuites,
        allowLastResort: terms?.allowLastResort ?? this.#o.allowLastResort ?? true,
        ...(terms === undefined ? {} : { reserve: terms.reserve }),
      },
    );
    await terms?.claimed?.(claimed);
    const clients: ClientKeyMaterial[] = claimed.map((c) =>
      c.keyPackage
        ? ({ clientStatus: KeyMaterialClientCode.success, clientUri: { uri: c.clientUri }, keyPackage: asKeyPackage(c.keyPackage) })
        : c.incompatible
          ? // protocol-06 §5.2: nothingCompatible for a client with no KeyPackage of an acceptable suite
            ({ clientStatus: KeyMaterialClientCode.nothingCompatible, clientUri: { uri: c.clientUri }, clientCapabilities: undefined })
          : ({ clientStatus: KeyMaterialClientCode.keyMaterialExhausted, clientUri: { uri: c.clientUri } }),
    );
    const ok = clients.filter((c) => c.clientStatus === KeyMaterialClientCode.success).length;
    const status = ok === 0 ? KeyMaterialUserCode.noCompatibleMaterial : ok === clients.length ? KeyMaterialUserCode.success : KeyMaterialUserCode.partialSuccess;
    this.#log.debug({ target, clients: clients.length, claimed: ok }, "keyMaterial answered");
    return this.#respond(status, target, clients);
  }
}
