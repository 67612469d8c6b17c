// Test harness for the XMPP adapter: a real Prosody (test/helpers/prosody.ts), the adapter with a
// FakeCore and an in-memory store, and real @xmpp/client users (PLAIN over loopback: SCRAM costs
// about 1.4 s of CPU per login, dependency trial §5.3). Everything started here is stopped in
// `close()` (Prosody by its PID, inside the helper).
import { client, xml, type Client } from "@xmpp/client";
import type { Element } from "@xmpp/xml";
import { startProsody, type ProsodyServer } from "../../helpers/prosody.ts";
import { xmppAdapter, type XmppAdapter, type XmppConfig, resolveXmppConfig, type XmppConfigInput } from "../../../adapters/xmpp/index.ts";
import { FakeCore, MemoryStore, captureLogger } from "./fakeCore.ts";

export { xml };
export type { Element };

export const PROVIDER = "a.example";
export const REMOTE = "b.example";
export const USERS = ["alice", "bob", "carol", "dave", "admin"] as const;
export const password = (name: string) => `pw-${name}-secret`;

export class TestClient {
  readonly name: string;
  readonly bare: string;
  readonly xmpp: Client;
  readonly inbox: Element[] = [];
  #waiters: { match: (el: Element) => boolean; resolve: (el: Element) => void; after: number }[] = [];
  onlineCount = 0;

  /**
   * `available: false` makes a session that never sends presence: it can send, but neither live
   * messages to the bare JID nor offline messages are delivered to it (RFC 6121 §8.5.2.1.1).
   */
  constructor(server: ProsodyServer, name: string, resource: string, domain = server.domain, options: { available?: boolean } = {}) {
    this.name = name;
    this.bare = `${name}@${domain}`;
    const pw = password(name);
    this.xmpp = client({
      service: server.clientService,
      domain,
      resource,
      // PLAIN over loopback only (the trial's note): @xmpp/client never picks PLAIN by itself here.
      credentials: (auth) => auth({ username: name, password: pw }, "PLAIN", xml("user-agent")),
    });
    this.xmpp.on("error", () => undefined);
    this.xmpp.on("online", () => {
      this.onlineCount++;
      if (options.available === false) return;
      // Fetch the roster first: Prosody delivers subscription approvals only to "interested"
      // resources (RFC 6121 §2.1.6), then become available.
      void this.iq(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })))
        .catch(() => undefined)
        .then(() => this.xmpp.send(xml("presence")))
        .catch(() => undefined);
    });
    this.xmpp.on("stanza", (el: Element) => {
      this.inbox.push(el);
      const index = this.inbox.length - 1;
      const ready = this.#waiters.filter((w) => index >= w.after && w.match(el));
      this.#waiters = this.#waiters.filter((w) => !ready.includes(w));
      for (const w of ready) w.resolve(el);
    });
  }

  get full(): string {
    return this.xmpp.jid?.toString() ?? this.bare;
  }

  async start(): Promise<void> {
    await this.xmpp.start();
  }

  /** The inbox position: pass to waitFor to ignore what came before. */
  mark(): number {
    return this.inbox.length;
  }

  waitFor(match: (el: Element) => boolean, what: string, opts: { after?: number; timeoutMs?: number } = {}): Promise<Element> {
    const after = opts.after ?? 0;
    const found = this.inbox.slice(after).find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        after,
        resolve: (el: Element) => {
          clearTimeout(timer);
          resolve(el);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`${this.name}: timed out waiting for ${what}; last stanzas:\n${this.inbox.slice(-5).map((e) => e.toString()).join("\n")}`));
      }, opts.timeoutMs ?? 10000);
      this.#waiters.push(waiter);
    });
  }

  /** All stanzas after `after` that match. */
  all(match: (el: Element) => boolean, after = 0): Element[] {
    return this.inbox.slice(after).filter(match);
  }

  async send(el: Element): Promise<void> {
    await this.xmpp.send(el);
  }

  /** An IQ round trip; resolves with the result stanza, rejects with the stanza error. */
  iq(el: Element, timeoutMs = 10000): Promise<Element> {
    // @types/xmpp__client's iqCaller type does not resolve for the linter: name what we use.
    const caller = (this.xmpp as unknown as { iqCaller: { request(el: Element, timeoutMs: number): Promise<Element> } }).iqCaller;
    return caller.request(el, timeoutMs);
  }

  async stop(): Promise<void> {
    try {
      await this.xmpp.stop();
    } catch {
      // already down
    }
  }
}

export interface BridgeOptions {
  readonly config?: Partial<XmppConfigInput>;
  readonly extraGlobal?: string;
  /** Start the adapter (default true). */
  readonly startAdapter?: boolean;
}

export class Bridge {
  readonly server: ProsodyServer;
  readonly core: FakeCore;
  readonly store = new MemoryStore();
  readonly logs: Record<string, unknown>[];
  readonly config: XmppConfig;
  adapter: XmppAdapter;
  #abort = new AbortController();
  #clients: TestClient[] = [];
  #log: ReturnType<typeof captureLogger>["log"];

  constructor(server: ProsodyServer, config: XmppConfig) {
    this.server = server;
    this.config = config;
    this.core = new FakeCore(PROVIDER);
    const { log, lines } = captureLogger();
    this.#log = log;
    this.logs = lines;
    this.adapter = this.#newAdapter();
  }

  #newAdapter(): XmppAdapter {
    const adapter = xmppAdapter();
    adapter.init({ config: this.config, log: this.#log.child({ adapter: "xmpp" }), store: this.store, core: this.core, signal: this.#abort.signal });
    return adapter;
  }

  /** A process restart of the bridge: a new adapter on the same store and core. */
  async restartAdapter(): Promise<void> {
    await this.adapter.stop();
    const since = this.core.statuses.length;
    this.adapter = this.#newAdapter();
    await this.adapter.start();
    await this.core.waitForStatus("connected", 30000, since);
  }

  async client(name: string, resource = "test", domain?: string): Promise<TestClient> {
    const c = new TestClient(this.server, name, resource, domain);
    this.#clients.push(c);
    await c.start();
    // Wait for our own available presence to come back (the session is fully up).
    await c.waitFor((el) => el.is("presence") && el.attrs.from === c.full && el.attrs.type === undefined, "own presence");
    return c;
  }

  ghost(mimiUri: string): string {
    return this.adapter.ghostFor(mimiUri);
  }

  logged(match: (line: Record<string, unknown>) => boolean): boolean {
    return this.logs.some(match);
  }

  async close(): Promise<void> {
    for (const c of this.#clients) await c.stop();
    try {
      await this.adapter.stop();
    } finally {
      this.#abort.abort();
      await this.server.dispose();
    }
  }
}

/** The adapter settings the tests use against `server` (fast reconnects, short keepalive). */
export function testXmppConfig(server: ProsodyServer): XmppConfigInput {
  return {
    service: server.componentService,
    componentDomain: server.componentDomain,
    componentSecret: server.componentSecret,
    domain: server.domain,
    mucDomain: server.mucDomain,
    admins: [`admin@${server.domain}`],
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2 },
    keepaliveMs: 5000,
  };
}

export async function startBridge(options: BridgeOptions = {}): Promise<Bridge> {
  const server = await startProsody({ users: USERS.map((name) => ({ name, password: password(name) })), ...(options.extraGlobal === undefined ? {} : { extraGlobal: options.extraGlobal }) });
  try {
    const config = resolveXmppConfig({ ...testXmppConfig(server), ...options.config });
    const bridge = new Bridge(server, config);
    if (options.startAdapter !== false) {
      await bridge.adapter.start();
      await bridge.core.waitForStatus("connected");
    }
    return bridge;
  } catch (err) {
    await server.dispose();
    throw err;
  }
}

/** The MIMI URI of a remote user on b.example. */
export const remote = (user: string) => `mimi://${REMOTE}/u/${user}`;

export function text(el: Element | undefined, child: string, ns?: string): string | undefined {
  const c = el?.getChild(child, ns);
  return c === undefined ? undefined : c.text();
}

export function hexId(): string {
  let s = "";
  for (let i = 0; i < 64; i++) s += "0123456789abcdef"[Math.floor(Math.random() * 16)] ?? "0";
  return s;
}
