// `mimi-bridge client profile|search|discover|connect|mapping …`: discovery on the command line,
// through the SDK (src/client-api/sdk/discovery.ts) and the client API (docs/CLIENT-API.md
// "Discovery"). Hooked into `mimi-bridge client` by src/cli/commands/client.ts.
//
//   client profile [--display-name N…] [--nick N…] [--email A] [--phone +1…] [--oidc claim=value…]
//                  [--vcard PROP=value…] [--searchable name|handle|none]     show or change
//   client search <domain> <type=value…>     identifierQuery; type is handle, nick, email, phone,
//                                            partialName, wholeProfile, oidc:<claim>, vcard:<PROP>
//   client discover <identifier>             tel:+1…, mailto:…, or an SSI
//   client connect <identifier> [--tag T…] [--ssi URI…] [--room R]   (discovery.mode integrated)
//   client mapping publish|remove <sii> [--tag T];  client mapping list
//   client discovery-info
import { Option, type Command } from "commander";
import type { MimiClient } from "../../client-api/sdk/index.ts";
import type { DiscoverResult, Profile, ProfileChange, SearchElementInput, SearchResult } from "../../client-api/sdk/discovery.ts";
import { isSearchability } from "../../discovery/index.ts";
import { MimiError } from "../../errors.ts";
import type { CliIo } from "../io.ts";

interface Options {
  state?: string;
  json?: boolean;
  logLevel?: string;
}

/** What `client` shares with these commands (defined in client.ts). */
export interface ClientCommandHelpers {
  common(cmd: Command): Command;
  withClient<T>(opts: Options, io: CliIo, fn: (s: { readonly client: MimiClient }) => Promise<T>): Promise<T>;
  print(io: CliIo, opts: Options, value: unknown, text: string): void;
}

const TYPES = ["handle", "nick", "email", "phone", "partialName", "wholeProfile"] as const;

/** `type=value`, `oidc:<claim>=value`, `vcard:<PROP>=value`; a bare mimi:// URI is a handle. */
export function parseSearchElement(arg: string): SearchElementInput {
  if (/^mimi:\/\//i.test(arg)) return { type: "handle", value: arg };
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new MimiError("MIMI_ERR_CLI_USAGE", `search elements are type=value (types: ${TYPES.join(", ")}, oidc:<claim>, vcard:<PROPERTY>), not ${JSON.stringify(arg)}`);
  const type = arg.slice(0, eq);
  const value = arg.slice(eq + 1);
  const lower = type.toLowerCase();
  if (lower.startsWith("oidc:")) return { type: "oidcStdClaim", field: type.slice(5), value };
  if (lower.startsWith("vcard:")) return { type: "vcardField", field: type.slice(6), value };
  const known = TYPES.find((t) => t.toLowerCase() === lower);
  if (known === undefined) throw new MimiError("MIMI_ERR_CLI_USAGE", `unknown search type ${type}; use ${TYPES.join(", ")}, oidc:<claim> or vcard:<PROPERTY>`);
  return { type: known, value };
}

function pairs(list: string[] | undefined, what: string): Record<string, string> | undefined {
  if (list === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const p of list) {
    const eq = p.indexOf("=");
    if (eq <= 0) throw new MimiError("MIMI_ERR_CLI_USAGE", `${what} takes name=value, not ${JSON.stringify(p)}`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

export function formatProfile(p: Profile): string {
  const lines = [`${p.userUri} searchable by ${p.searchability}${p.searchabilityChosen ? "" : " (provider default)"}`];
  if (p.displayNames.length > 0) lines.push(`  names: ${p.displayNames.join(", ")}`);
  if (p.nicks.length > 0) lines.push(`  nicks: ${p.nicks.join(", ")}`);
  if (p.email !== undefined) lines.push(`  email: ${p.email}`);
  if (p.phone !== undefined) lines.push(`  phone: ${p.phone}`);
  for (const [k, v] of Object.entries(p.oidc)) lines.push(`  oidc ${k}: ${v}`);
  for (const [k, v] of Object.entries(p.vcard)) lines.push(`  vcard ${k}: ${v}`);
  return lines.join("\n");
}

export function formatSearch(r: SearchResult): string {
  if (r.code !== "success") return `${r.code} (${r.domain})`;
  return r.profiles
    .map((p) => {
      const name = p.fields.find((f) => f.name === "name" || f.name === "FN")?.value;
      return name === undefined ? p.stableUri : `${p.stableUri} "${name}"`;
    })
    .join("\n");
}

export function formatDiscover(r: DiscoverResult): string {
  if (r.kind === "ssi") return `${r.identifier} (an SSI: use it as it is)`;
  const lines = r.mappings.length === 0 ? [`${r.identifier}: no mappings`] : r.mappings.map((m) => `${r.identifier} -> ${m.ssi} [${m.tag}] signed by ${m.signer}, via ${m.via.join(", ")}`);
  for (const x of r.rejected) lines.push(`rejected (via ${x.via}, signer ${x.signer}): ${x.reason}`);
  for (const u of r.unreachable) lines.push(`not asked: ${u.provider} (${u.code})`);
  return lines.join("\n");
}

export function registerClientDiscoveryCommands(client: Command, io: CliIo, h: ClientCommandHelpers): void {
  h.common(client.command("profile"))
    .description("show your discovery profile, or change it (names, nicks, e-mail, phone, OIDC claims, vCard fields, searchability)")
    .option("--display-name <names...>", "display names (what partialName searches)")
    .option("--nick <nicks...>", "nicknames (matched exactly by nick searches, besides your user name)")
    .option("--email <address>", "e-mail address (matched exactly, never shown)")
    .option("--phone <number>", "phone number in E.164 with + (matched exactly, never shown)")
    .option("--clear-email", "remove the e-mail address")
    .option("--clear-phone", "remove the phone number")
    .option("--oidc <claim=value...>", "OpenID Connect standard claims, e.g. given_name=Bob family_name=Smith")
    .option("--vcard <PROP=value...>", "vCard properties, e.g. ORG=Acme TITLE=Engineer")
    .addOption(new Option("--searchable <level>", "who may find you: name (by name, nick, e-mail, phone), handle (only an exact handle search), none").choices(["name", "handle", "none"]))
    .action(
      async (
        opts: Options & {
          displayName?: string[];
          nick?: string[];
          email?: string;
          phone?: string;
          clearEmail?: boolean;
          clearPhone?: boolean;
          oidc?: string[];
          vcard?: string[];
          searchable?: string;
        },
      ) => {
        const oidc = pairs(opts.oidc, "--oidc");
        const vcard = pairs(opts.vcard, "--vcard");
        const change: ProfileChange = {
          ...(opts.displayName === undefined ? {} : { displayNames: opts.displayName }),
          ...(opts.nick === undefined ? {} : { nicks: opts.nick }),
          ...(opts.clearEmail === true ? { email: null } : opts.email === undefined ? {} : { email: opts.email }),
          ...(opts.clearPhone === true ? { phone: null } : opts.phone === undefined ? {} : { phone: opts.phone }),
          ...(oidc === undefined ? {} : { oidc }),
          ...(vcard === undefined ? {} : { vcard }),
          ...(opts.searchable !== undefined && isSearchability(opts.searchable) ? { searchability: opts.searchable } : {}),
        };
        await h.withClient(opts, io, async ({ client: c }) => {
          const p = Object.keys(change).length === 0 ? await c.profile() : await c.updateProfile(change);
          h.print(io, opts, p, formatProfile(p));
        });
      },
    );

  h.common(client.command("search"))
    .description("find a user on a provider (identifierQuery, protocol-06 §5.8); every element must match")
    .argument("<domain>", "the provider to ask, e.g. b.example")
    .argument("<elements...>", "type=value: handle, nick, email, phone, partialName, wholeProfile, oidc:<claim>, vcard:<PROPERTY>")
    .action(async (domain: string, elements: string[], opts: Options) => {
      const parsed = elements.map(parseSearchElement);
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.search(domain, parsed);
        h.print(io, opts, r, formatSearch(r));
      });
    });

  h.common(client.command("discover"))
    .description("resolve a phone number or e-mail address (tel:+1…, mailto:…) to the users who published it, verified; an SSI is returned as it is")
    .argument("<identifier>", "tel:+15551234567, mailto:bob@example.com, +15551234567, or an SSI")
    .action(async (identifier: string, opts: Options) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.discover(identifier);
        h.print(io, opts, r, formatDiscover(r));
      });
    });

  h.common(client.command("connect"))
    .description("discovery integrated with consent: resolve the identifier and send a consent request to each mapping picked (all when no --tag/--ssi)")
    .argument("<identifier>", "tel:…, mailto:… (discovery.mode integrated) or an SSI")
    .option("--tag <tags...>", "only mappings with these preference tags")
    .option("--ssi <uris...>", "only these SSIs")
    .option("--room <roomId>", "ask consent for this room only")
    .action(async (identifier: string, opts: Options & { tag?: string[]; ssi?: string[]; room?: string }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.connect(identifier, { ...(opts.tag === undefined ? {} : { tags: opts.tag }), ...(opts.ssi === undefined ? {} : { ssis: opts.ssi }), ...(opts.room === undefined ? {} : { roomId: opts.room }) });
        const lines = r.requests.length === 0 ? [`${r.identifier}: nothing to request`] : r.requests.map((q) => `${q.status === "requested" ? "consent requested from" : `failed (${q.code ?? "?"}):`} ${q.target}${q.tags.length === 0 ? "" : ` [${q.tags.join(", ")}]`}`);
        h.print(io, opts, r, lines.join("\n"));
      });
    });

  const mapping = client.command("mapping").description("your SII mappings (tel:/mailto: → your account) in the discovery service: publish, remove, list");
  h.common(mapping.command("publish"))
    .description("publish (or renew) a signed mapping of one of your phone numbers or e-mail addresses to your account")
    .argument("<sii>", "tel:+15551234567 or mailto:you@example.com")
    .option("--tag <tag>", "preference tag, e.g. Personal, Business", "Personal")
    .action(async (sii: string, opts: Options & { tag: string }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.publishMapping(sii, opts.tag);
        h.print(io, opts, r, `${r.sii} -> ${r.ssi} [${r.tag}] until ${new Date(r.expiresAt).toISOString()}: ${r.providers.length === 0 ? "no discovery provider configured" : r.providers.map((p) => `${p.provider} ${p.ok ? "ok" : p.code}`).join(", ")}`);
      });
    });
  h.common(mapping.command("remove"))
    .description("remove your mapping of an SII (one tag, or every tag)")
    .argument("<sii>", "tel:… or mailto:…")
    .option("--tag <tag>", "only this preference tag")
    .action(async (sii: string, opts: Options & { tag?: string }) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const r = await c.removeMapping(sii, opts.tag);
        h.print(io, opts, r, `removed ${r.removed} mapping(s) of ${r.sii}`);
      });
    });
  h.common(mapping.command("list"))
    .description("list the mappings you published")
    .action(async (opts: Options) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const list = await c.mappings();
        h.print(io, opts, list, list.length === 0 ? "no mappings" : list.map((m) => `${m.sii} -> ${m.ssi} [${m.tag}] until ${new Date(m.expiresAt).toISOString()}`).join("\n"));
      });
    });

  h.common(client.command("discovery-info"))
    .description("how your provider does discovery: mode, discovery providers, default searchability")
    .action(async (opts: Options) => {
      await h.withClient(opts, io, async ({ client: c }) => {
        const i = await c.discoveryInfo();
        h.print(io, opts, i, `mode ${i.mode}; discovery providers: ${i.discoveryProviders.join(", ") || "none"}; default searchability ${i.defaultSearchability}`);
      });
    });
}
