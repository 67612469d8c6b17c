// keyMaterial as the TARGET provider (draft-ietf-mimi-protocol-06 §5.2): claims one KeyPackage
// per client of a local user and answers with a KeyMaterialResponse. Consent is checked through
// the ConsentGate (issue 4 brings the consent store; until then the gate admits every request,
// which is documented in docs/CONFORMANCE.md).
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
import type { KeyPackageStore } from "./keyPackageStore.ts";

/** The decision of the consent layer for one keyMaterial request. */
export type ConsentDecision = "granted" | "noConsent" | "noConsentForThisRoom";

export interface ConsentGate {
  keyMaterial(requester: string, target: string, roomId: string | undefined): Promise<ConsentDecision>;
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
    const { user } = parseUserUri(target);
    const account = await this.#o.accounts.getUser(user);
    if (!account) return this.#respond(KeyMaterialUserCode.userUnknown, target);
    const roomId = request.roomId.uri === "" ? undefined : request.roomId.uri;
    const consent = await (this.#o.consent ?? openConsentGate).keyMaterial(request.requestingUser.uri, target, roomId);
    if (consent !== "granted") {
      return this.#respond(consent === "noConsentForThisRoom" ? KeyMaterialUserCode.noConsentForThisRoom : KeyMaterialUserCode.noConsent, target);
    }
    const devices = await this.#o.accounts.devices(user);
    const claimed = await this.#o.keyPackages.claim(
      user,
      devices.map((d) => d.clientUri),
      { cipherSuites: request.acceptableCiphersuites, allowLastResort: this.#o.allowLastResort ?? true },
    );
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
