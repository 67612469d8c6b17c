// `mimi-bridge client consent request|cancel|grant|revoke|list|policy`: consent (protocol-06 §5.7)
// on the command line, through the SDK (MimiClient.consent*). Hooked into `client` by client.ts,
// which lends its option and session helpers.
import type { Command } from "commander";
import type { ConsentList, ConsentRecordInfo, MimiClient, PreConsentPolicy } from "../../client-api/sdk/index.ts";
import { MimiError } from "../../errors.ts";
import type { CliIo } from "../io.ts";

interface CommonOptions {
  state?: string;
  json?: boolean;
  logLevel?: string;
}

/** What client.ts lends: its common options, a session around the SDK, and output. */
export interface ClientCommandHelpers {
  common(cmd: Command): Command;
  withClient<T>(opts: CommonOptions, io: CliIo, fn: (s: { readonly client: MimiClient }) => Promise<T>): Promise<T>;
  print(io: CliIo, opts: CommonOptions, value: unknown, text: string): void;
}

const POLICIES = ["off", "none", "keypackages", "quarantine", "default"] as const;

const when = (ms: number | undefined): string => (ms === undefined ? "-" : new Date(ms).toISOString());

function line(r: ConsentRecordInfo): string {
  const other = r.direction === "incoming" ? `from ${r.requester}` : `to ${r.target}`;
  const kps = r.keyPackages > 0 ? ` keyPackages=${r.keyPackages}` : "";
  return `${r.direction} ${other} ${r.roomId ?? "(all rooms)"} ${r.state} (${r.origin}, ${when(r.updatedAt)}${r.expiresAt === undefined ? "" : `, expires ${when(r.expiresAt)}`})${kps}`;
}

function listText(l: ConsentList): string {
  const out = [`pre-consent policy: ${l.policy.effective} (yours: ${l.policy.user ?? "default"}, provider: ${l.policy.providerDefault})`];
  if (l.pending.length > 0) {
    out.push("pending:");
    for (const p of l.pending) {
      out.push(`  ${p.requester} ${p.roomId ?? "(all rooms)"} since ${when(p.requestedAt)}`);
      for (const h of p.held) out.push(`    held ${h.roomId ?? "(a room)"}: ${h.count ?? "?"} events, ${h.bytes ?? "?"} bytes, ${h.dropped ?? "?"} dropped (${h.policy}${h.void ? ", void" : ""})`);
    }
  }
  for (const r of [...l.incoming, ...l.outgoing]) out.push(line(r));
  return out.join("\n");
}

export function registerClientConsentCommands(client: Command, io: CliIo, h: ClientCommandHelpers): void {
  const consent = client.command("consent").description("consent (protocol-06 §5.7): ask users for consent, answer requests, list them, choose your pre-consent policy");

  h.common(consent.command("request"))
    .description("ask a user for consent to add them (connection-wide, or for one room); prints only whether their provider received it")
    .argument("<user>", "user URI, e.g. mimi://b.example/u/bob")
    .option("--room <room>", "only for this room")
    .option("--bilateral", "a connection request: also grant the user consent to add you")
    .action(async (user: string, opts: CommonOptions & { room?: string; bilateral?: boolean }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.consentRequest(user, { ...(opts.room === undefined ? {} : { roomId: opts.room }), ...(opts.bilateral === true ? { bilateral: true } : {}) });
        h.print(io, opts, r, `${r.delivered ? "request received by" : "no such user at"} ${user}'s provider`);
      });
    });

  h.common(consent.command("cancel"))
    .description("cancel a pending consent request (same user and room as the request)")
    .argument("<user>", "user URI")
    .option("--room <room>", "the room the request was for")
    .action(async (user: string, opts: CommonOptions & { room?: string }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.consentCancel(user, opts.room === undefined ? {} : { roomId: opts.room });
        h.print(io, opts, r, `cancelled the request to ${user}`);
      });
    });

  h.common(consent.command("grant"))
    .description("grant a user consent to add you (answers a request, or unsolicited); held messages from them are delivered")
    .argument("<user>", "the requester's user URI")
    .option("--room <room>", "only for this room (default: every room)")
    .option("--with-key-packages", "send KeyPackages of your devices with the grant")
    .action(async (user: string, opts: CommonOptions & { room?: string; withKeyPackages?: boolean }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.consentGrant(user, { ...(opts.room === undefined ? {} : { roomId: opts.room }), ...(opts.withKeyPackages === true ? { withKeyPackages: true } : {}) });
        h.print(io, opts, r, `granted ${user}${r.released > 0 ? `; ${r.released} held events delivered` : ""}${r.notified ? "" : " (their provider was not reachable)"}`);
      });
    });

  h.common(consent.command("revoke"))
    .description("revoke (or refuse in advance) a user's consent; held messages from them are dropped")
    .argument("<user>", "the requester's user URI")
    .option("--room <room>", "only for this room (default: every room)")
    .option("--notify", "tell the requester's provider (default: consent.announceRevocations)")
    .action(async (user: string, opts: CommonOptions & { room?: string; notify?: boolean }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.consentRevoke(user, { ...(opts.room === undefined ? {} : { roomId: opts.room }), ...(opts.notify === true ? { notify: true } : {}) });
        h.print(io, opts, r, `revoked ${user}${r.dropped > 0 ? `; ${r.dropped} held events dropped` : ""}`);
      });
    });

  h.common(consent.command("list"))
    .description("your pre-consent policy, pending requests with what is held for you, incoming and outgoing consent")
    .action(async (opts: CommonOptions) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const l = await c.consentList();
        h.print(io, opts, l, listText(l));
      });
    });

  h.common(consent.command("policy"))
    .description("choose your own pre-consent policy: off, none, keypackages, quarantine, or default (the provider's)")
    .argument("<policy>", POLICIES.join(" | "))
    .action(async (policy: string, opts: CommonOptions) => {
      if (!(POLICIES as readonly string[]).includes(policy)) throw new MimiError("MIMI_ERR_CLI_USAGE", `the policy must be one of ${POLICIES.join(", ")}`);
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.setPreConsentPolicy(policy as PreConsentPolicy | "default");
        h.print(io, opts, r, `pre-consent policy: ${r.effective}`);
      });
    });
}
