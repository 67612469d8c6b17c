// An in-memory stand-in for a provider's client API (docs/CLIENT-API.md), for SDK unit tests: it
// orders commits per room (one per epoch, wrongEpoch to the others), routes Welcomes by
// KeyPackageRef, hands out KeyPackages, serves GroupInfo for external joins and keeps per-user
// event logs. It checks the SDK's signatures but enforces no room policy. The real provider is
// exercised by test/integration/client.test.ts.
import { EventEmitter } from "node:events";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import { MimiError } from "../../../src/errors.ts";
import {
  createExternalSender,
  encodeBaseRoomPolicy,
  encodeParticipantListData,
  encodeRoleData,
  encodeRoomMetaData,
  encryptWithLabel,
  groupInfoAppData,
  groupInfoToMessage,
  inspectMessage,
  keyPackageSummary,
  MimiComponentId,
  decodeParticipantListData,
  signWithLabel,
  verifyWithLabel,
  welcomeKeyPackageRefs,
} from "../../../src/mls/index.ts";
import type { MlsExternalSender } from "../../../src/mls/index.ts";
import { asGroupInfo, asKeyPackage, asMlsMessage, asRatchetTree, asWelcome } from "../../../src/mls/wire.ts";
import { initialParticipantList, presetFor } from "../../../src/policy/index.ts";
import {
  FanoutMessage,
  GROUP_INFO_ENCRYPTION_LABEL,
  GROUP_INFO_REQUEST_TBS_LABEL,
  GROUP_INFO_RESPONSE_TBS_LABEL,
  GroupInfoRatchetTreeTBE,
  GroupInfoRequest,
  GroupInfoResponse,
  HandshakeBundle,
  KEY_MATERIAL_REQUEST_TBS_LABEL,
  KeyMaterialRequest,
  KeyMaterialResponse,
  RatchetTreeRepresentation,
  SubmitMessageResponse,
  UpdateRoomResponse,
  encodeGroupInfoRequestTBS,
  encodeGroupInfoResponseTBS,
  encodeKeyMaterialRequestTBS,
  fanoutFromHandshakeBundle,
  fanoutWelcome,
} from "../../../src/protocol/index.ts";
import type { ClientTransport, RoomKind, RoomSummary, RoomTemplate, ServerEvent } from "../../../src/client-api/sdk/index.ts";
import { basicCredential } from "../../../src/client-api/sdk/wire.ts";

interface Room {
  roomId: string;
  kind: RoomKind;
  epoch: bigint;
  groupInfo: Uint8Array;
  ratchetTree: Uint8Array;
}

interface StoredKp {
  bare: Uint8Array;
  ref: string;
  clientUri: string;
  lastResort: boolean;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

export class FakeProvider {
  readonly domain: string;
  readonly #users = new Map<string, { token: string; devices: Set<string> }>();
  readonly #tokens = new Map<string, string>();
  readonly #kps = new Map<string, StoredKp[]>();
  readonly #rooms = new Map<string, Room>();
  readonly #events = new Map<string, ServerEvent[]>();
  readonly #emitter = new EventEmitter();
  #hub: MlsExternalSender | undefined;
  #nextRoom = 1;
  #clock = 1_764_000_000_000;
  /** Counters for assertions. */
  readonly stats = { updates: 0, wrongEpoch: 0, submits: 0, keyMaterial: 0 };
  /** Hold the next `n` /update calls until `n` have arrived, then answer them in arrival order. */
  #gate: { n: number; waiting: (() => void)[] } | undefined;

  constructor(domain = "a.example") {
    this.domain = domain;
    this.#emitter.setMaxListeners(0);
  }

  async hub(): Promise<MlsExternalSender> {
    this.#hub ??= await createExternalSender(this.domain);
    return this.#hub;
  }

  /** Makes the next `n` updates wait for each other (a race at the hub). */
  gateUpdates(n: number): void {
    this.#gate = { n, waiting: [] };
  }

  roomEpoch(roomId: string): bigint | undefined {
    return this.#rooms.get(roomId)?.epoch;
  }

  lastSeq(user: string): number {
    return this.#events.get(user)?.length ?? 0;
  }

  #now(): bigint {
    this.#clock += 1;
    return BigInt(this.#clock);
  }

  #append(user: string, ev: Omit<ServerEvent, "seq">): void {
    const log = this.#events.get(user) ?? [];
    this.#events.set(user, log);
    log.push({ ...ev, seq: log.length + 1 });
    this.#emitter.emit(user);
  }

  #participants(groupInfo: Uint8Array): string[] {
    const dict = groupInfoAppData(groupInfoToMessage(groupInfo));
    const pl = dict.componentData.find((c) => c.componentId === MimiComponentId.participant_list);
    return pl === undefined ? [] : decodeParticipantListData(pl.data).participants.map((p) => p.user);
  }

  #fanout(roomId: string, users: Iterable<string>, fm: FanoutMessage): void {
    const bytes = encode(FanoutMessage, fm);
    for (const u of new Set(users)) if (this.#users.has(u)) this.#append(u, { type: "fanout", roomId, timestamp: Number(fm.timestamp), fanout: bytes });
  }

  #user(token: string | undefined): string {
    const u = token === undefined ? undefined : this.#tokens.get(token);
    if (u === undefined) throw new MimiError("MIMI_ERR_CLIENT_UNAUTHENTICATED");
    return u;
  }

  /** A ClientTransport for one client. */
  transport(): ClientTransport & { calls: string[] } {
    let token: string | undefined;
    const calls: string[] = [];
    const p = this; // eslint-disable-line @typescript-eslint/no-this-alias
    const user = (): string => p.#user(token);
    return {
      calls,
      setToken(t) {
        token = t;
      },
      register(name) {
        calls.push("register");
        const userUri = `mimi://${p.domain}/u/${name}`;
        if (p.#users.has(userUri)) return Promise.reject(new MimiError("MIMI_ERR_CLIENT_USER_EXISTS"));
        const t = `tok-${name}-${Math.random().toString(36).slice(2)}`;
        p.#users.set(userUri, { token: t, devices: new Set() });
        p.#tokens.set(t, userUri);
        return Promise.resolve({ userUri, token: t });
      },
      me() {
        const u = user();
        return Promise.resolve({ userUri: u, provider: p.domain, devices: [...(p.#users.get(u)?.devices ?? [])] });
      },
      async provider() {
        const hub = await p.hub();
        return { domain: p.domain, hubExternalSender: { signatureKey: hub.signaturePublicKey, credential: basicCredential(new TextEncoder().encode(`mimi://${p.domain}`)).bytes }, cipherSuites: [1], roomKinds: ["direct", "group", "channel"] };
      },
      registerDevice(deviceId) {
        calls.push("devices");
        const u = user();
        const clientUri = `mimi://${p.domain}/d/${u.split("/u/")[1] ?? ""}/${deviceId ?? "dev"}`;
        p.#users.get(u)?.devices.add(clientUri);
        return Promise.resolve({ clientUri });
      },
      uploadKeyPackages(keyPackages, lastResort) {
        calls.push(`keyPackages:${keyPackages.length}:${lastResort}`);
        const u = user();
        const list = p.#kps.get(u) ?? [];
        p.#kps.set(u, list);
        for (const k of keyPackages) {
          const s = keyPackageSummary(k);
          if (s.userUri !== u || s.lastResort !== lastResort) return Promise.reject(new MimiError("MIMI_ERR_CLIENT_BAD_KEY_PACKAGE"));
          const bare = k;
          list.push({ bare, ref: hex(s.keyPackageRef), clientUri: s.clientUri, lastResort });
          p.#refOwner.set(hex(s.keyPackageRef), u);
        }
        return Promise.resolve({ stored: keyPackages.length });
      },
      keyPackageCount(clientUri) {
        const list = (p.#kps.get(user()) ?? []).filter((k) => k.clientUri === clientUri);
        return Promise.resolve({ available: list.filter((k) => !k.lastResort).length, lastResort: list.filter((k) => k.lastResort).length });
      },
      async roomTemplate(kind, participants) {
        const u = user();
        if (kind === "direct") {
          const key = [u, ...(participants ?? [])].sort().join(" ");
          const existing = p.#direct.get(key);
          if (existing !== undefined) throw new MimiError("MIMI_ERR_ROOM_EXISTS", "a direct room exists", { details: { roomId: existing } });
        }
        const roomId = `mimi://${p.domain}/r/room${p.#nextRoom++}`;
        if (kind === "direct") p.#direct.set([u, ...(participants ?? [])].sort().join(" "), roomId);
        const preset = presetFor(kind === "channel" ? "moderatedChannel" : kind);
        const list = initialParticipantList(preset, { creator: u, ...(participants === undefined ? {} : { participants }) });
        const hub = await p.hub();
        const tpl: RoomTemplate = {
          roomId,
          groupId: new TextEncoder().encode(roomId.replace("/r/", "/g/")),
          hubExternalSender: { signatureKey: hub.signaturePublicKey, credential: basicCredential(new TextEncoder().encode(`mimi://${p.domain}`)).bytes },
          components: {
            participantList: encodeParticipantListData(list),
            rolesList: encodeRoleData(preset.policy.roleData),
            baseRoomPolicy: encodeBaseRoomPolicy(preset.policy.baseRoomPolicy),
            roomMetadata: encodeRoomMetaData({ roomUri: roomId, roomName: "", roomDescriptions: [], roomAvatar: "", roomSubject: "", roomMood: "" }),
          },
        };
        p.#templates.set(roomId, kind);
        return tpl;
      },
      createRoom(roomId, groupInfo, ratchetTree, clientUri) {
        calls.push("createRoom");
        if (!(p.#users.get(user())?.devices.has(clientUri) ?? false)) return Promise.reject(new MimiError("MIMI_ERR_CLIENT_FORBIDDEN"));
        const kind = p.#templates.get(roomId);
        if (kind === undefined) return Promise.reject(new MimiError("MIMI_ERR_ROOM_NOT_FOUND"));
        asGroupInfo(groupInfo);
        asRatchetTree(ratchetTree);
        const info = inspectMessage(groupInfoToMessage(groupInfo));
        if (info.wireFormat !== "group_info" || info.epoch !== 0n) return Promise.reject(new MimiError("MIMI_ERR_ROOM_TEMPLATE_MISMATCH"));
        p.#rooms.set(roomId, { roomId, kind, epoch: 0n, groupInfo, ratchetTree });
        return Promise.resolve({ roomId, epoch: 0 });
      },
      rooms() {
        const u = user();
        const out: RoomSummary[] = [];
        for (const r of p.#rooms.values()) if (p.#participants(r.groupInfo).includes(u)) out.push({ roomId: r.roomId, hub: p.domain, kind: r.kind, epoch: Number(r.epoch) });
        return Promise.resolve(out);
      },
      async keyMaterial(roomId, request) {
        calls.push("keyMaterial");
        p.stats.keyMaterial++;
        user();
        const req = decodeExact(KeyMaterialRequest, request);
        if (!(await verifyWithLabel(1, req.requesterSignatureKey, KEY_MATERIAL_REQUEST_TBS_LABEL, encodeKeyMaterialRequestTBS(req), req.keyMaterialRequestSignature))) {
          throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "bad KeyMaterialRequest signature");
        }
        if (req.roomId.uri !== roomId) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "room mismatch");
        const target = req.targetUser.uri;
        const devices = p.#users.get(target)?.devices;
        if (devices === undefined) return encode(KeyMaterialResponse, { protocol: 1, userStatus: 4, userUri: { uri: target }, clients: [] });
        const list = p.#kps.get(target) ?? [];
        const clients = [...devices].map((clientUri) => {
          const i = list.findIndex((k) => k.clientUri === clientUri && !k.lastResort);
          const j = i >= 0 ? i : list.findIndex((k) => k.clientUri === clientUri);
          const kp = list[j];
          if (kp === undefined) return { clientStatus: 1 as const, clientUri: { uri: clientUri } };
          if (!kp.lastResort) list.splice(j, 1);
          return { clientStatus: 0 as const, clientUri: { uri: clientUri }, keyPackage: asKeyPackage(kp.bare) };
        });
        const ok = clients.filter((c) => c.clientStatus === 0).length;
        return encode(KeyMaterialResponse, { protocol: 1, userStatus: ok === clients.length ? 0 : ok > 0 ? 1 : 3, userUri: { uri: target }, clients: ok > 0 ? clients : [] });
      },
      async update(roomId, bundleBytes) {
        calls.push("update");
        p.stats.updates++;
        user();
        const gate = p.#gate;
        if (gate !== undefined) {
          await new Promise<void>((resolve) => {
            gate.waiting.push(resolve);
            if (gate.waiting.length >= gate.n) {
              p.#gate = undefined;
              for (const w of gate.waiting) w();
            }
          });
        }
        const room = p.#rooms.get(roomId);
        if (room === undefined) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND");
        const bundle = decodeExact(HandshakeBundle, bundleBytes);
        const info = inspectMessage(bundle.proposalOrCommit.bytes);
        if (info.wireFormat !== "public_message") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST");
        if (info.epoch !== room.epoch) {
          p.stats.wrongEpoch++;
          return encode(UpdateRoomResponse, { responseCode: 1, errorDescription: "", currentEpoch: room.epoch });
        }
        const ts = p.#now();
        const before = p.#participants(room.groupInfo);
        if (bundle.kind === "commit") {
          room.epoch += 1n;
          if (bundle.groupInfoOption.representation !== 1 || bundle.ratchetTreeOption.representation !== RatchetTreeRepresentation.full) throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST");
          room.groupInfo = bundle.groupInfoOption.groupInfo.bytes;
          room.ratchetTree = bundle.ratchetTreeOption.ratchetTree.bytes;
          const after = p.#participants(room.groupInfo);
          p.#fanout(roomId, [...before, ...after], fanoutFromHandshakeBundle(bundle, ts));
          if (bundle.welcome !== undefined) {
            const refs = welcomeKeyPackageRefs(bundle.welcome.bytes).map(hex);
            const targets = new Set(refs.flatMap((r) => p.#refOwner.get(r) ?? []));
            const fm = fanoutWelcome(asWelcome(bundle.welcome.bytes), { representation: RatchetTreeRepresentation.full, ratchetTree: asRatchetTree(room.ratchetTree) }, ts);
            for (const u of targets) p.#append(u, { type: "welcome", roomId, timestamp: Number(ts), fanout: encode(FanoutMessage, fm), keyPackageRefs: refs.map((r) => new Uint8Array(Buffer.from(r, "hex"))) });
          }
        } else {
          p.#fanout(roomId, before, fanoutFromHandshakeBundle(bundle, ts));
        }
        return encode(UpdateRoomResponse, { responseCode: 0, errorDescription: "", acceptedTimestamp: ts });
      },
      submit(roomId, message) {
        p.stats.submits++;
        user();
        const room = p.#rooms.get(roomId);
        if (room === undefined) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND");
        const info = inspectMessage(message);
        if (info.wireFormat !== "private_message" || info.contentType !== "application") throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST");
        if (info.epoch < room.epoch) return Promise.resolve(encode(SubmitMessageResponse, { protocol: 1, statusCode: 2, currentEpoch: room.epoch }));
        const ts = p.#now();
        p.#fanout(roomId, p.#participants(room.groupInfo), { kind: "application", timestamp: ts, message: asMlsMessage(message), frank: undefined });
        return Promise.resolve(encode(SubmitMessageResponse, { protocol: 1, statusCode: 0, acceptedTimestamp: ts, frank: undefined }));
      },
      async groupInfo(roomId, request) {
        user();
        const room = p.#rooms.get(roomId);
        if (room === undefined) throw new MimiError("MIMI_ERR_ROOM_NOT_FOUND");
        const req = decodeExact(GroupInfoRequest, request);
        if (!(await verifyWithLabel(1, req.requestingSignatureKey, GROUP_INFO_REQUEST_TBS_LABEL, encodeGroupInfoRequestTBS(req), req.signature))) {
          throw new MimiError("MIMI_ERR_CLIENT_BAD_REQUEST", "bad GroupInfoRequest signature");
        }
        const hub = await p.hub();
        const tbe = encode(GroupInfoRatchetTreeTBE, {
          groupInfo: asGroupInfo(room.groupInfo),
          ratchetTreeOption: { representation: RatchetTreeRepresentation.full, ratchetTree: asRatchetTree(room.ratchetTree) },
          pendingProposals: [],
        });
        const roomIdBytes = new TextEncoder().encode(roomId);
        const sealed = await encryptWithLabel(1, req.groupInfoPublicKey, GROUP_INFO_ENCRYPTION_LABEL, roomIdBytes, tbe);
        const unsigned = {
          protocol: 1 as const,
          roomId: roomIdBytes,
          status: 1 as const,
          cipherSuite: 1,
          hubSender: { signatureKey: hub.signaturePublicKey, credential: basicCredential(new TextEncoder().encode(`mimi://${p.domain}`)) },
          encryptedGroupinfoAndTree: sealed,
        };
        const signature = await signWithLabel(1, hub, GROUP_INFO_RESPONSE_TBS_LABEL, encodeGroupInfoResponseTBS(unsigned));
        return encode(GroupInfoResponse, { ...unsigned, signature });
      },
      async events(after, waitMs, signal) {
        const u = user();
        const ready = (): ServerEvent[] => (p.#events.get(u) ?? []).slice(after);
        if (ready().length === 0 && waitMs > 0) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(t);
              p.#emitter.off(u, done);
              signal?.removeEventListener("abort", done);
              resolve();
            };
            const t = setTimeout(done, waitMs);
            p.#emitter.on(u, done);
            signal?.addEventListener("abort", done, { once: true });
          });
        }
        if (signal?.aborted === true) throw new MimiError("MIMI_ERR_SDK_UNREACHABLE", "aborted");
        return ready();
      },
      ack() {
        return Promise.resolve();
      },
    };
  }

  readonly #templates = new Map<string, RoomKind>();

  readonly #refOwner = new Map<string, string>();
  readonly #direct = new Map<string, string>();
}
