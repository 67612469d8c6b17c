// The XEP-0114 component connection: connect, reconnect with exponential backoff and jitter,
// keepalive (XEP-0199), IQ requests, and the durable outbound queue.
//
// Durable queue (MIMI-XMPP-02). What MIMI asks the bridge to show (messages, edits, reactions,
// retractions, subjects, invitations, subscriptions) is written to the adapter store before it is
// sent, in order, and stays there until the server has certainly processed it: a batch is written
// in ONE socket write followed by an XEP-0199 ping to the server's domain, and nothing more is
// written until the ping is answered. The server reads a stream in order, so a `result` means it
// routed the whole batch. An error answer from a server that normally answers pings means a host
// that is shutting down (modules unloading): the batch is not confirmed. Unconfirmed entries —
// when the link drops, or the process dies — are sent again after the next connect with their
// deterministic stanza IDs (at least once; exactly once unless the server dies between routing a
// batch and answering its ping). Bounces of type "wait", or with the conditions a restarting
// server produces, put the stanza back in the queue a few times; others are dropped with a log
// line.
import { component, type Component } from "@xmpp/component";
import { randomBytes } from "node:crypto";
import { MimiError, type AdapterStore, type ConnectionState, type Logger } from "../../src/adapter/index.ts";
import type { XmppConfig } from "./config.ts";
import { NS, readError, xml, type XmlElement } from "./xml.ts";

interface OutEntry {
  readonly seq: number;
  readonly xml: string;
  readonly id?: string | undefined;
  attempts: number;
  persisted: boolean;
  /** The connection epoch in which it was written last (-1: not yet). */
  sentIn: number;
}

interface StoredEntry {
  readonly xml: string;
  readonly id?: string;
  readonly attempts: number;
}

interface PendingIq {
  resolve: (el: XmlElement) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export interface LinkOptions {
  readonly config: XmppConfig;
  readonly log: Logger;
  readonly store: AdapterStore;
  readonly reportStatus: (state: ConnectionState, message?: string) => void;
  /** Every incoming stanza that is not the answer to one of our IQs. Must not throw. */
  readonly onStanza: (stanza: XmlElement) => void;
  /** After each (re)connect, before the queue is flushed (rejoin MUCs, ghost presence). */
  readonly onOnline: () => Promise<void>;
}

const OUT_PREFIX = "out/";
const seqKey = (seq: number) => `${OUT_PREFIX}${seq.toString().padStart(16, "0")}`;
const MAX_BATCH = 200;
/**
 * A batch and its barrier ping stay well under what the server reads at once (Prosody's epoll
 * backend reads 8192 bytes): a server that shuts down between two reads routes the first part of
 * a larger batch but never answers its ping, and the batch is sent again (duplicates).
 */
const MAX_BATCH_BYTES = 4096;
const MAX_BOUNCE_RETRIES = 5;
const RECENT_LIMIT = 5000;
const BARRIER_TIMEOUT_MS = 30000;
/** Bounce conditions worth another try: transient ones, and what a server shutting down says. */
const RETRY_CONDITIONS = new Set(["service-unavailable", "recipient-unavailable", "remote-server-timeout", "internal-server-error", "resource-constraint"]);

export class ComponentLink {
  readonly #o: LinkOptions;
  #entity: Component | undefined;
  #online = false;
  #stopped = true;
  #epoch = 0;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #iqs = new Map<string, PendingIq>();
  #queue: OutEntry[] = [];
  #nextSeq = 1;
  #pumping = false;
  #barriers = new Map<string, { seqs: number[]; answered: (ok: boolean) => void }>();
  /** Whether the server answers XEP-0199 pings with a result (probed at connect). */
  #pingWorks = true;
  #recent = new Map<string, { xml: string; attempts: number }>();
  #keepalive: ReturnType<typeof setInterval> | undefined;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #loaded: Promise<void> | undefined;
  #state: ConnectionState = "stopped";

  constructor(options: LinkOptions) {
    this.#o = options;
  }

  get online(): boolean {
    return this.#online;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** Queue entries not yet confirmed by the server. */
  get queued(): number {
    return this.#queue.length;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#report("starting");
    this.#loaded ??= this.#load();
    this.#loop = this.#run();
  }

  async stop(beforeClose?: () => Promise<void>): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake?.();
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const entity = this.#entity;
    const deadline = new Promise<void>((resolve) => {
      const t = setTimeout(resolve, this.#o.config.stopTimeoutMs);
      t.unref();
    });
    if (entity !== undefined && this.#online) {
      try {
        if (beforeClose !== undefined) await Promise.race([beforeClose(), deadline]);
      } catch (err) {
        this.#o.log.warn({ err: errText(err) }, "xmpp: sending unavailable presence before stop failed");
      }
    }
    this.#online = false;
    if (entity !== undefined) {
      await Promise.race([entity.stop().catch(() => undefined), deadline]);
      entity.socket?.destroy();
    }
    this.#failIqs("the XMPP component is stopping");
    await Promise.race([this.#loop, deadline]);
    this.#report("stopped");
  }

  // ---- sending -----------------------------------------------------------------------------------

  /** Sends now if connected (answers, reflections, presence); false when it was not sent. */
  async sendNow(el: XmlElement): Promise<boolean> {
    const entity = this.#entity;
    if (!this.#online || entity === undefined) return false;
    try {
      await entity.write(el.toString());
      return true;
    } catch (err) {
      this.#o.log.debug({ err: errText(err), stanza: el.name }, "xmpp: send failed");
      return false;
    }
  }

  /** Durable send: persisted first, sent in order, resent until the server confirmed it. */
  async enqueue(el: XmlElement): Promise<void> {
    await (this.#loaded ??= this.#load());
    await this.#enqueueText(el.toString(), el.attrs.id, 0);
  }

  async #enqueueText(text: string, id: string | undefined, attempts: number): Promise<void> {
    const entry: OutEntry = { seq: this.#nextSeq++, xml: text, id, attempts, persisted: false, sentIn: -1 };
    this.#queue.push(entry);
    const stored: StoredEntry = id === undefined ? { xml: text, attempts } : { xml: text, id, attempts };
    try {
      await this.#o.store.put(seqKey(entry.seq), stored);
    } catch (err) {
      this.#queue = this.#queue.filter((e) => e !== entry);
      throw err;
    }
    entry.persisted = true;
    this.#pump();
  }

  async #load(): Promise<void> {
    const rows = await this.#o.store.list<StoredEntry>(OUT_PREFIX);
    const loaded: OutEntry[] = [];
    for (const { key, value } of rows) {
      const seq = Number.parseInt(key.slice(key.lastIndexOf("/") + 1), 10);
      if (!Number.isSafeInteger(seq) || typeof value?.xml !== "string") continue;
      loaded.push({ seq, xml: value.xml, id: value.id, attempts: value.attempts, persisted: true, sentIn: -1 });
    }
    loaded.sort((a, b) => a.seq - b.seq);
    const max = loaded.at(-1)?.seq ?? 0;
    this.#nextSeq = Math.max(this.#nextSeq, max + 1);
    // Every enqueue waits for this load, so the in-memory queue is still empty here.
    this.#queue = loaded;
    if (loaded.length > 0) this.#o.log.info({ queued: loaded.length }, "xmpp: outbound queue restored from the store");
  }

  #pump(): void {
    if (this.#pumping || !this.#online) return;
    this.#pumping = true;
    void this.#pumpLoop().finally(() => {
      this.#pumping = false;
    });
  }

  /**
   * Stop-and-wait: one batch and its barrier ping in ONE write, then nothing more until the ping is
   * answered. So when the server closes the stream it has read everything we wrote (a close with
   * unread data would be a TCP reset, which also destroys its last answers on the way to us).
   */
  async #pumpLoop(): Promise<void> {
    for (;;) {
      const entity = this.#entity;
      if (!this.#online || entity === undefined) return;
      const epoch = this.#epoch;
      const batch: OutEntry[] = [];
      let bytes = 0;
      for (const e of this.#queue) {
        if (!e.persisted) break; // keep the order: wait until it is stored
        if (e.sentIn === epoch) continue;
        bytes += Buffer.byteLength(e.xml, "utf8");
        if (batch.length > 0 && bytes > MAX_BATCH_BYTES) break;
        batch.push(e);
        if (batch.length >= MAX_BATCH) break;
      }
      if (batch.length === 0) return;
      const barrierId = `b-${randomBytes(6).toString("hex")}`;
      const ping = xml("iq", { type: "get", id: barrierId, from: this.#o.config.componentDomain, to: this.#o.config.domain }, xml("ping", { xmlns: NS.ping }));
      let answered: (ok: boolean) => void = () => undefined;
      const answer = new Promise<boolean>((resolve) => (answered = resolve));
      this.#barriers.set(barrierId, { seqs: batch.map((e) => e.seq), answered });
      for (const e of batch) e.sentIn = epoch;
      try {
        await entity.write(batch.map((e) => e.xml).join("") + ping.toString());
      } catch (err) {
        for (const e of batch) if (e.sentIn === epoch) e.sentIn = -1;
        this.#barriers.delete(barrierId);
        this.#o.log.debug({ err: errText(err) }, "xmpp: queue write failed; resent after reconnect");
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const ok = await Promise.race([answer, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), BARRIER_TIMEOUT_MS)))]);
      clearTimeout(timer);
      this.#barriers.delete(barrierId);
      if (ok) {
        await this.#confirm(batch);
        continue;
      }
      // Not confirmed (an error answer while the server shuts down, a timeout, a lost link): the
      // batch stays queued and is sent again, after the next connect if the link is gone.
      for (const e of batch) if (e.sentIn === epoch) e.sentIn = -1;
      if (this.#epoch !== epoch || !this.#online) return;
      await new Promise((r) => setTimeout(r, this.#o.config.reconnect.initialDelayMs));
    }
  }

  async #confirm(confirmed: OutEntry[]): Promise<void> {
    const done = new Set(confirmed.map((e) => e.seq));
    this.#queue = this.#queue.filter((e) => !done.has(e.seq));
    for (const e of confirmed) {
      if (e.id !== undefined) {
        this.#recent.set(e.id, { xml: e.xml, attempts: e.attempts });
        if (this.#recent.size > RECENT_LIMIT) {
          const first = this.#recent.keys().next();
          if (first.done !== true) this.#recent.delete(first.value);
        }
      }
    }
    await Promise.all(confirmed.map((e) => this.#o.store.del(seqKey(e.seq)).catch((err: unknown) => this.#o.log.warn({ err: errText(err) }, "xmpp: could not drop a confirmed queue entry"))));
  }

  /**
   * A `<message type="error">` answering one of our queued stanzas (a bounce). Returns true when it
   * was ours. Errors of type "wait", and conditions a restarting server produces, are retried with
   * backoff a few times; others are dropped with a log line.
   */
  handleBounce(stanza: XmlElement): boolean {
    const id = stanza.attrs.id;
    if (id === undefined) return false;
    const sent = this.#recent.get(id);
    if (sent === undefined) return false;
    const err = readError(stanza);
    this.#recent.delete(id);
    if ((err.type === "wait" || RETRY_CONDITIONS.has(err.condition)) && sent.attempts < MAX_BOUNCE_RETRIES) {
      const delay = Math.min(this.#o.config.reconnect.initialDelayMs * 2 ** sent.attempts, this.#o.config.reconnect.maxDelayMs);
      this.#o.log.info({ id, condition: err.condition, attempt: sent.attempts + 1, delay }, "xmpp: stanza bounced; sending it again later");
      const t = setTimeout(() => {
        this.#timers.delete(t);
        void this.#enqueueText(sent.xml, id, sent.attempts + 1).catch((e: unknown) => this.#o.log.warn({ err: errText(e) }, "xmpp: could not requeue a bounced stanza"));
      }, delay);
      this.#timers.add(t);
    } else {
      this.#o.log.info({ id, condition: err.condition, type: err.type }, "xmpp: stanza bounced; dropped");
    }
    return true;
  }

  /** Sends a recently confirmed stanza again (e.g. after a MUC said the ghost was not joined). */
  requeue(id: string): boolean {
    const sent = this.#recent.get(id);
    if (sent === undefined || sent.attempts >= MAX_BOUNCE_RETRIES) return false;
    this.#recent.delete(id);
    void this.#enqueueText(sent.xml, id, sent.attempts + 1).catch((e: unknown) => this.#o.log.warn({ err: errText(e) }, "xmpp: could not requeue a stanza"));
    return true;
  }

  // ---- IQ requests -------------------------------------------------------------------------------

  /** Sends an IQ get/set and resolves with the result; MimiError on error, timeout or no link. */
  async request(iq: XmlElement, timeoutMs = 15000): Promise<XmlElement> {
    const entity = this.#entity;
    if (!this.#online || entity === undefined) throw new MimiError("MIMI_ERR_XMPP_NOT_CONNECTED");
    const id = iq.attrs.id ?? `q-${randomBytes(8).toString("hex")}`;
    iq.attrs.id = id;
    return new Promise<XmlElement>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#iqs.delete(id);
        reject(new MimiError("MIMI_ERR_XMPP_TIMEOUT", `no answer to IQ ${id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#iqs.set(id, { resolve, reject, timer });
      entity.write(iq.toString()).catch((err: unknown) => {
        clearTimeout(timer);
        this.#iqs.delete(id);
        reject(new MimiError("MIMI_ERR_XMPP_NOT_CONNECTED", "writing the IQ failed", { cause: err }));
      });
    });
  }

  #failIqs(message: string): void {
    for (const [id, p] of this.#iqs) {
      clearTimeout(p.timer);
      p.reject(new MimiError("MIMI_ERR_XMPP_NOT_CONNECTED", message));
      this.#iqs.delete(id);
    }
  }

  #onStanza(el: XmlElement): void {
    try {
      if (el.name === "iq" && (el.attrs.type === "result" || el.attrs.type === "error")) {
        const id = el.attrs.id ?? "";
        const barrier = this.#barriers.get(id);
        if (barrier !== undefined) {
          // A result proves the server routed everything before it. An error does too, unless the
          // server normally answers pings: then it is a host shutting down (modules unloading), and
          // what came before may have been dropped.
          barrier.answered(el.attrs.type === "result" || !this.#pingWorks);
          return;
        }
        const pending = this.#iqs.get(id);
        if (pending !== undefined) {
          this.#iqs.delete(id);
          clearTimeout(pending.timer);
          if (el.attrs.type === "result") pending.resolve(el);
          else {
            const e = readError(el);
            pending.reject(new MimiError("MIMI_ERR_XMPP_STANZA_ERROR", `${e.condition}${e.text === undefined ? "" : `: ${e.text}`}`, { details: { condition: e.condition } }));
          }
          return;
        }
      }
      this.#o.onStanza(el);
    } catch (err) {
      this.#o.log.warn({ err: errText(err), stanza: el.name }, "xmpp: stanza handler failed; stanza dropped");
    }
  }

  // ---- connection loop ---------------------------------------------------------------------------

  #report(state: ConnectionState, message?: string): void {
    this.#state = state;
    this.#o.reportStatus(state, message);
  }

  async #run(): Promise<void> {
    const { reconnect } = this.#o.config;
    let delay = reconnect.initialDelayMs;
    let failures = 0;
    while (!this.#stopped) {
      let authFailed = false;
      try {
        await this.#loaded;
        const { closed } = await this.#connectOnce();
        failures = 0;
        delay = reconnect.initialDelayMs;
        const reason = await closed;
        if (this.#stopped) break;
        this.#report("transient_disconnect", `connection to the XMPP server lost (${reason})`);
        this.#o.log.warn({ reason }, "xmpp: component connection lost; reconnecting");
      } catch (err) {
        if (this.#stopped) break;
        failures++;
        authFailed = err instanceof MimiError && err.code === "MIMI_ERR_XMPP_AUTH_FAILED";
        if (authFailed) this.#report("bad_credentials", "the XMPP server refused the component secret");
        else this.#report("transient_disconnect", `cannot connect to the XMPP server: ${errText(err)}`);
        this.#o.log.warn({ err: errText(err), failures, retryInMs: delay }, "xmpp: component connect failed");
      }
      if (this.#stopped) break;
      const jittered = Math.round(delay * (0.8 + Math.random() * 0.4));
      await this.#sleep(authFailed ? Math.max(jittered, reconnect.maxDelayMs) : jittered);
      delay = Math.min(Math.round(delay * reconnect.factor), reconnect.maxDelayMs);
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        this.#wake = undefined;
        resolve();
      }, ms);
      this.#timers.add(t);
      this.#wake = () => {
        clearTimeout(t);
        this.#timers.delete(t);
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /** Connects once; resolves when online with a promise of the disconnection reason. */
  async #connectOnce(): Promise<{ closed: Promise<string> }> {
    const { config } = this.#o;
    const entity = component({ service: config.service, domain: config.componentDomain, password: config.componentSecret });
    // We run our own reconnect loop and stanza routing: drop the built-in fixed-delay reconnect
    // and the middleware listener (it would answer IQs itself and can throw on odd JIDs).
    entity.reconnect.stop();
    entity.removeAllListeners("element");
    this.#entity = entity;
    const epoch = ++this.#epoch;
    let streamError: string | undefined;
    entity.on("error", (err: unknown) => {
      const condition = (err as { condition?: unknown }).condition;
      if (typeof condition === "string") streamError = condition;
      this.#o.log.debug({ err: errText(err) }, "xmpp: component connection error");
    });
    entity.on("stanza", (el: XmlElement) => this.#onStanza(el));
    const closed = new Promise<string>((resolve) => {
      entity.once("disconnect", () => resolve(streamError ?? "socket closed"));
    });
    const online = new Promise<void>((resolve, reject) => {
      entity.once("online", () => resolve());
      void closed.then((reason) => reject(reason === "not-authorized" ? new MimiError("MIMI_ERR_XMPP_AUTH_FAILED") : new Error(`closed while connecting: ${reason}`)));
      entity.once("error", (err: unknown) => {
        const condition = (err as { condition?: unknown }).condition;
        if (condition === "not-authorized") reject(new MimiError("MIMI_ERR_XMPP_AUTH_FAILED"));
      });
    });
    online.catch(() => undefined); // observed below; a late rejection must not go unhandled
    const timeout = setTimeout(() => entity.socket?.destroy(), 15000);
    try {
      await entity.connect(config.service);
      await entity.open({ domain: config.componentDomain });
      await online;
    } catch (err) {
      entity.socket?.destroy();
      if (this.#entity === entity) this.#entity = undefined;
      throw err;
    } finally {
      clearTimeout(timeout);
    }
    this.#online = true;
    try {
      await this.request(xml("iq", { type: "get", from: config.componentDomain, to: config.domain }, xml("ping", { xmlns: NS.ping })), 5000);
      this.#pingWorks = true;
    } catch {
      this.#pingWorks = false;
      this.#o.log.warn("xmpp: the server does not answer XEP-0199 pings; queue confirmations are weaker");
    }
    this.#o.log.info({ componentDomain: config.componentDomain }, "xmpp: component connected");
    this.#report("connected");
    this.#startKeepalive(entity);
    void closed.then(() => {
      if (this.#epoch === epoch) {
        this.#online = false;
        this.#epoch++;
        for (const b of this.#barriers.values()) b.answered(false);
        this.#barriers.clear();
        this.#failIqs("the XMPP connection was lost");
        if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
      }
    });
    try {
      await this.#o.onOnline();
    } catch (err) {
      this.#o.log.warn({ err: errText(err) }, "xmpp: after-connect work failed");
    }
    this.#pump();
    return { closed };
  }

  #startKeepalive(entity: Component): void {
    if (this.#keepalive !== undefined) clearInterval(this.#keepalive);
    const every = this.#o.config.keepaliveMs;
    if (every <= 0) return;
    this.#keepalive = setInterval(() => {
      if (!this.#online || this.#entity !== entity) return;
      const ping = xml("iq", { type: "get", from: this.#o.config.componentDomain, to: this.#o.config.domain }, xml("ping", { xmlns: NS.ping }));
      this.request(ping, Math.max(1000, Math.min(every, 10000))).catch((err: unknown) => {
        if (err instanceof MimiError && err.code === "MIMI_ERR_XMPP_TIMEOUT") {
          this.#o.log.warn("xmpp: keepalive ping unanswered; dropping the connection");
          entity.socket?.destroy();
        }
      });
    }, every);
    this.#keepalive.unref();
  }
}

export function errText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === "string" ? err : JSON.stringify(err) ?? "unknown error";
}
