// Prometheus metrics of the Matrix adapter (issue 6 item 7, MIMI-MATRIX-07): a per-adapter
// prom-client Registry (never the process-wide default registry, so two adapters, or the
// adapter and the host, never collide on metric names) served on its own optional listener,
// as mautrix bridges do (`metrics.listen` in the adapter config; off when absent).
//
// Label values are bounded: Matrix event types are chosen by remote users, so anything outside
// the known set is counted as "other"; error codes must look like codes (M_…, MIMI_ERR_…).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { MimiError, type Logger } from "../../src/adapter/index.ts";

/** Matrix event types counted under their own label (the rest: "other"). */
const KNOWN_TYPES = new Set([
  "m.room.message",
  "m.reaction",
  "m.room.redaction",
  "m.room.member",
  "m.room.name",
  "m.room.topic",
  "m.room.avatar",
  "m.room.power_levels",
  "m.room.tombstone",
  "m.room.join_rules",
  "m.room.create",
  "m.room.encrypted",
  "m.sticker",
  "m.typing",
  "m.receipt",
  "m.presence",
]);
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

export const typeLabel = (type: string): string => (KNOWN_TYPES.has(type) ? type : "other");
export const codeLabel = (code: string | undefined): string => (code !== undefined && CODE.test(code) ? code : "other");

export interface MatrixMetricsSources {
  /** Depth of the durable inbound queue (TransactionServer.stats().queueDepth). */
  readonly queueDepth: () => number;
  /** Rooms whose events are being handed to the core right now (TransactionServer.stats().inFlight, at most MAX_ACTIVE_LANES). */
  readonly inFlight?: () => number;
  /** Rooms waiting for a retry of a failed event (TransactionServer.stats().retryingRooms): only that room waits. */
  readonly retryingRooms?: () => number;
}

export class MatrixMetrics {
  readonly registry = new Registry();
  readonly eventsIn: Counter<"type">;
  readonly eventsOut: Counter<"type">;
  readonly submitted: Counter<"type" | "status">;
  readonly transactionLatency: Histogram<"kind">;
  readonly deliveryLatency: Histogram<"kind">;
  readonly errors: Counter<"code">;
  readonly connected: Gauge;
  readonly portalsUpgraded: Counter;
  #sources: MatrixMetricsSources | undefined;

  constructor() {
    const registers = [this.registry];
    this.eventsIn = new Counter({ name: "mimi_matrix_events_in_total", help: "Matrix events (and ephemeral events) handed to the adapter by the homeserver, by Matrix type", labelNames: ["type"], registers });
    this.eventsOut = new Counter({ name: "mimi_matrix_events_out_total", help: "Events the adapter created on the homeserver (sends, redactions, state), by Matrix type", labelNames: ["type"], registers });
    this.submitted = new Counter({ name: "mimi_matrix_core_submissions_total", help: "Platform events handed to the core, by platform event type and the core's answer", labelNames: ["type", "status"], registers });
    this.transactionLatency = new Histogram({
      name: "mimi_matrix_transaction_processing_seconds",
      help: "From the homeserver's transaction being received (and stored) to its event having been handed to the core",
      labelNames: ["kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.deliveryLatency = new Histogram({
      name: "mimi_matrix_delivery_seconds",
      help: "From the core handing a MIMI event to the adapter to the homeserver's 200",
      labelNames: ["kind"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.errors = new Counter({ name: "mimi_matrix_errors_total", help: "Failures: homeserver errcodes (M_…) and core refusals (MIMI_ERR_…)", labelNames: ["code"], registers });
    this.connected = new Gauge({ name: "mimi_matrix_homeserver_connected", help: "1 when the homeserver answered the bot's whoami, 0 otherwise", registers });
    this.portalsUpgraded = new Counter({ name: "mimi_matrix_room_upgrades_total", help: "Portal rooms moved to their replacement room after an m.room.tombstone", registers });
    const depth: Gauge = new Gauge({
      name: "mimi_matrix_inbound_queue_depth",
      help: "Matrix events stored and acknowledged but not yet handed to the core",
      registers,
      // Read at scrape time from the durable queue.
      collect: () => depth.set(this.#sources?.queueDepth() ?? 0),
    });
    const inFlight: Gauge = new Gauge({
      name: "mimi_matrix_inbound_rooms_in_flight",
      help: "Matrix rooms whose queued events are being handed to the core right now (one worker per room, bounded)",
      registers,
      collect: () => inFlight.set(this.#sources?.inFlight?.() ?? 0),
    });
    const retrying: Gauge = new Gauge({
      name: "mimi_matrix_inbound_rooms_retrying",
      help: "Matrix rooms whose next queued event failed and waits for a retry (the other rooms go on)",
      registers,
      collect: () => retrying.set(this.#sources?.retryingRooms?.() ?? 0),
    });
    this.connected.set(0);
  }

  attach(sources: MatrixMetricsSources): void {
    this.#sources = sources;
  }

  error(code: string | undefined): void {
    this.errors.inc({ code: codeLabel(code) });
  }
}

/** GET /metrics (Prometheus text format) and GET /health on their own listener. */
export class MetricsServer {
  readonly #metrics: MatrixMetrics;
  readonly #health: () => { ok: boolean; state: string };
  readonly #log: Logger;
  #server: Server | undefined;

  constructor(o: { metrics: MatrixMetrics; health: () => { ok: boolean; state: string }; log: Logger }) {
    this.#metrics = o.metrics;
    this.#health = o.health;
    this.#log = o.log;
  }

  async start(host: string, port: number): Promise<{ url: string; port: number }> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host, port }, () => {
        server.off("error", reject);
        resolve();
      });
    }).catch((err: unknown) => {
      throw new MimiError("MIMI_ERR_MATRIX_LISTEN_FAILED", `cannot listen for metrics on ${host}:${port} (${(err as NodeJS.ErrnoException).code ?? "error"})`, { cause: err });
    });
    this.#server = server;
    const a = server.address();
    const bound = typeof a === "object" && a !== null ? a.port : port;
    const h = host.includes(":") ? `[${host}]` : host;
    this.#log.info({ host, port: bound }, "Matrix metrics endpoint listening");
    return { url: `http://${h}:${bound}`, port: bound };
  }

  async stop(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    if (s === undefined) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? "/").split("?")[0];
    try {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD" }).end();
      } else if (path === "/metrics") {
        const body = await this.#metrics.registry.metrics();
        res.writeHead(200, { "content-type": this.#metrics.registry.contentType }).end(req.method === "HEAD" ? undefined : body);
      } else if (path === "/health") {
        const h = this.#health();
        res.writeHead(h.ok ? 200 : 503, { "content-type": "application/json" }).end(JSON.stringify({ status: h.ok ? "ok" : "unavailable", state: h.state }));
      } else {
        res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      }
    } catch (err) {
      this.#log.warn({ err: err instanceof Error ? err.message : String(err) }, "matrix: the metrics endpoint failed");
      if (!res.headersSent) res.writeHead(500).end();
    }
  }
}
