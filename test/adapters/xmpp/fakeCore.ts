// A fake core for adapter tests: implements CoreApi (records every submitted PlatformEvent,
// answers `accepted` with a generated messageId, deduplicates by (room, platformEventId) like the
// real core, resolves edit/reply/reaction targets through an in-memory PortalApi) and an in-memory
// AdapterStore. Tests can change answers per event with `answer`.
import { randomBytes } from "node:crypto";
import { Writable } from "node:stream";
import type {
  AdapterStore,
  AdapterStoreOp,
  ConnectionState,
  CoreApi,
  PlatformEvent,
  PlatformEventId,
  PlatformRoomId,
  Portal,
  PortalApi,
  ResolvedIdentifier,
  RoomKindName,
  SubmitResult,
} from "../../../src/adapter/index.ts";
import { createLogger, type Logger } from "../../../src/log.ts";

export class MemoryStore implements AdapterStore {
  readonly data = new Map<string, unknown>();

  get<T>(key: string): Promise<T | undefined> {
    const v = this.data.get(key);
    return Promise.resolve(v === undefined ? undefined : (structuredClone(v) as T));
  }
  put<T>(key: string, value: T): Promise<void> {
    this.data.set(key, structuredClone(value));
    return Promise.resolve();
  }
  del(key: string): Promise<void> {
    this.data.delete(key);
    return Promise.resolve();
  }
  list<T>(prefix: string): Promise<{ key: string; value: T }[]> {
    const out = [...this.data.entries()].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return Promise.resolve(out.map(([key, value]) => ({ key, value: structuredClone(value) as T })));
  }
  /** All or nothing: every value is cloned before the first write. */
  batch(ops: readonly AdapterStoreOp[]): Promise<void> {
    const prepared = ops.map((op) => (op.type === "put" ? { ...op, value: structuredClone(op.value) } : op));
    for (const op of prepared) {
      if (op.type === "put") this.data.set(op.key, op.value);
      else this.data.delete(op.key);
    }
    return Promise.resolve();
  }
}

export class MemoryPortals implements PortalApi {
  readonly portals = new Map<string, Portal>();
  /** `${platformRoom}\0${platformEventId}` → messageId (the first version's). */
  readonly toMessage = new Map<string, string>();
  /** `${platformRoom}\0${messageId}` → platformEventId. */
  readonly toEvent = new Map<string, PlatformEventId>();

  link(roomId: string, platformRoom: PlatformRoomId, kind: RoomKindName): Portal {
    const portal: Portal = { roomId, platformRoom, kind, createdAt: Date.now() };
    this.portals.set(platformRoom, portal);
    return portal;
  }
  record(platformRoom: string, platformEvent: string, messageId: string): void {
    this.toMessage.set(`${platformRoom}\0${platformEvent}`, messageId);
    if (!this.toEvent.has(`${platformRoom}\0${messageId}`)) this.toEvent.set(`${platformRoom}\0${messageId}`, platformEvent as PlatformEventId);
  }
  byRoom(roomId: string): Promise<Portal | undefined> {
    return Promise.resolve([...this.portals.values()].find((p) => p.roomId === roomId));
  }
  byPlatformRoom(platformRoom: PlatformRoomId): Promise<Portal | undefined> {
    return Promise.resolve(this.portals.get(platformRoom));
  }
  list(): Promise<Portal[]> {
    return Promise.resolve([...this.portals.values()]);
  }
  messageIdOf(platformRoom: PlatformRoomId, platformEventId: PlatformEventId): Promise<string | undefined> {
    return Promise.resolve(this.toMessage.get(`${platformRoom}\0${platformEventId}`));
  }
  platformEventOf(platformRoom: PlatformRoomId, messageId: string): Promise<PlatformEventId | undefined> {
    return Promise.resolve(this.toEvent.get(`${platformRoom}\0${messageId}`));
  }
  setData(platformRoom: PlatformRoomId, data: Record<string, unknown>): Promise<void> {
    const p = this.portals.get(platformRoom);
    if (p !== undefined) this.portals.set(platformRoom, { ...p, data });
    return Promise.resolve();
  }
  unlink(platformRoom: PlatformRoomId): Promise<boolean> {
    return Promise.resolve(this.portals.delete(platformRoom));
  }
}

export interface Submission {
  readonly event: PlatformEvent;
  readonly result: SubmitResult;
  /** For edits, reactions, retractions, receipts: the MIMI message the target mapped to. */
  readonly targetMessageId?: string | undefined;
  readonly replyToMessageId?: string | undefined;
  /** True when the core answered from its dedupe table (a resubmission). */
  readonly duplicate: boolean;
}

type Waiter = { match: (s: Submission) => boolean; resolve: (s: Submission) => void };

export class FakeCore implements CoreApi {
  readonly domain: string;
  readonly portals = new MemoryPortals();
  readonly submissions: Submission[] = [];
  readonly statuses: { state: ConnectionState; message?: string | undefined }[] = [];
  /** Return an answer to override the default for an event. */
  answer: ((event: PlatformEvent) => SubmitResult | undefined) | undefined;
  /** identifier.query answers. */
  resolver: ((query: string) => ResolvedIdentifier[]) | undefined;
  readonly #dedupe = new Map<string, SubmitResult>();
  #waiters: Waiter[] = [];
  #statusWaiters: { state: ConnectionState; resolve: () => void }[] = [];

  constructor(domain: string) {
    this.domain = domain;
  }

  /** Unique accepted events (duplicates excluded). */
  get events(): PlatformEvent[] {
    return this.submissions.filter((s) => !s.duplicate).map((s) => s.event);
  }

  /** While true, submissions never answer (a process that dies while the core works). */
  stall = false;

  async submit(event: PlatformEvent): Promise<SubmitResult> {
    if (this.stall) return new Promise<SubmitResult>(() => undefined);
    await Promise.resolve();
    const scope = "room" in event && event.room !== undefined ? event.room : "peer" in event ? event.peer : "";
    const dedupeKey = `${scope}\0${event.platformEventId}`;
    const seen = this.#dedupe.get(dedupeKey);
    if (seen !== undefined) {
      this.#push({ event, result: seen, duplicate: true });
      return seen;
    }
    const custom = this.answer?.(event);
    let result: SubmitResult = custom ?? { status: "accepted" };
    let targetMessageId: string | undefined;
    let replyToMessageId: string | undefined;
    if (custom === undefined) {
      switch (event.type) {
        case "room.create": {
          const roomId = `mimi://${this.domain}/r/${randomBytes(9).toString("base64url")}`;
          this.portals.link(roomId, event.room, event.kind);
          result = { status: "accepted", roomId };
          break;
        }
        case "message": {
          const messageId = randomBytes(32).toString("hex");
          this.portals.record(event.room, event.platformEventId, messageId);
          if (event.replyTo !== undefined) replyToMessageId = this.portals.toMessage.get(`${event.room}\0${event.replyTo}`);
          result = { status: "accepted", messageId };
          break;
        }
        case "message.edit": {
          const messageId = randomBytes(32).toString("hex");
          targetMessageId = this.portals.toMessage.get(`${event.room}\0${event.target}`);
          // An edit maps to the first version (draft-ietf-mimi-content `replaces`).
          if (targetMessageId !== undefined) this.portals.record(event.room, event.platformEventId, targetMessageId);
          result = { status: "accepted", messageId };
          break;
        }
        case "message.retract":
        case "reaction.add":
        case "reaction.remove":
        case "receipt.read":
          targetMessageId = this.portals.toMessage.get(`${event.room}\0${event.target}`);
          result = { status: "accepted", messageId: randomBytes(32).toString("hex") };
          break;
        case "identifier.query":
          result = { status: "accepted", resolved: this.resolver?.(event.query) ?? [] };
          break;
        default:
          result = { status: "accepted" };
      }
    }
    if (event.type !== "typing") this.#dedupe.set(dedupeKey, result);
    this.#push({ event, result, duplicate: false, targetMessageId, replyToMessageId });
    return result;
  }

  #push(s: Submission): void {
    this.submissions.push(s);
    const ready = this.#waiters.filter((w) => w.match(s));
    this.#waiters = this.#waiters.filter((w) => !w.match(s));
    for (const w of ready) w.resolve(s);
  }

  /** The first (past or future) non-duplicate submission matching. */
  waitFor(match: (e: PlatformEvent) => boolean, timeoutMs = 10000, what = "a platform event"): Promise<Submission> {
    const done = this.submissions.find((s) => !s.duplicate && match(s.event));
    if (done !== undefined) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out waiting for ${what}; saw ${this.submissions.map((s) => s.event.type).join(", ")}`));
      }, timeoutMs);
      const waiter: Waiter = {
        match: (s) => !s.duplicate && match(s.event),
        resolve: (s) => {
          clearTimeout(timer);
          resolve(s);
        },
      };
      this.#waiters.push(waiter);
    });
  }

  reportStatus(state: ConnectionState, message?: string): void {
    this.statuses.push({ state, message });
    const ready = this.#statusWaiters.filter((w) => w.state === state);
    this.#statusWaiters = this.#statusWaiters.filter((w) => w.state !== state);
    for (const w of ready) w.resolve();
  }

  /** Resolves when the adapter reports `state` after `since` reports (default: any time). */
  waitForStatus(state: ConnectionState, timeoutMs = 15000, since = 0): Promise<void> {
    if (this.statuses.slice(since).some((s) => s.state === state)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for status ${state}; saw ${this.statuses.map((s) => s.state).join(", ")}`)), timeoutMs);
      this.#statusWaiters.push({
        state,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** A logger whose JSON lines are kept for assertions. */
export function captureLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line.trim() !== "") lines.push(JSON.parse(line) as Record<string, unknown>);
      }
      cb();
    },
  });
  return { log: createLogger({ level: "debug", destination }), lines };
}
