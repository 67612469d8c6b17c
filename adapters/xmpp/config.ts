// The `adapters.xmpp` config section (TypeBox). The core validates it together with the rest of
// the configuration; `resolveXmppConfig` fills the defaults again so the adapter also works when
// handed a partial object (tests, embedding).
import { readFileSync, statSync } from "node:fs";
import { Type, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { MimiError } from "../../src/adapter/index.ts";

const DOMAIN = "^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$";
const Domain = (description: string) => Type.String({ pattern: DOMAIN, description });

export const XmppConfigSchema = Type.Object(
  {
    service: Type.String({
      pattern: "^xmpp://[^/?#]+$",
      description: "the XMPP server's XEP-0114 component listener, e.g. xmpp://127.0.0.1:5347",
    }),
    componentDomain: Domain("the component's domain: ghosts and MIMI rooms live here, e.g. mimi.xmpp.example"),
    componentSecret: Type.Optional(
      Type.String({ minLength: 1, description: "the component secret shared with the XMPP server (never logged); prefer componentSecretFile" }),
    ),
    componentSecretFile: Type.Optional(
      Type.String({ minLength: 1, description: "file holding the component secret (mode 0600 or stricter; surrounding whitespace ignored)" }),
    ),
    domain: Domain("the XMPP server's user domain: <name>@<domain> is mimi://<provider>/u/<name>"),
    mucDomain: Type.Optional(Domain("the XMPP server's own MUC service, for bridging existing MUCs, e.g. conference.xmpp.example")),
    admins: Type.Array(Type.String({ minLength: 3, maxLength: 3071 }), {
      default: [],
      maxItems: 1000,
      description: "bare JIDs allowed to run the XEP-0050 admin commands",
    }),
    reconnect: Type.Object(
      {
        initialDelayMs: Type.Integer({ minimum: 10, maximum: 600000, default: 1000 }),
        maxDelayMs: Type.Integer({ minimum: 10, maximum: 3600000, default: 60000 }),
        factor: Type.Number({ minimum: 1, maximum: 10, default: 2 }),
      },
      { additionalProperties: false, default: {} },
    ),
    keepaliveMs: Type.Integer({
      minimum: 0,
      maximum: 3600000,
      default: 30000,
      description: "XEP-0199 ping to the server this often; 0 disables it",
    }),
    stopTimeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 3000 }),
    limits: Type.Object(
      {
        maxBodyBytes: Type.Integer({ minimum: 16, maximum: 16777216, default: 65536, description: "larger bodies get a policy-violation error" }),
        maxIdLength: Type.Integer({ minimum: 8, maximum: 4096, default: 256 }),
        maxReactions: Type.Integer({ minimum: 1, maximum: 1000, default: 32 }),
      },
      { additionalProperties: false, default: {} },
    ),
    muc: Type.Object(
      {
        historyMessages: Type.Integer({ minimum: 0, maximum: 10000, default: 50, description: "messages kept per room for history on join" }),
        botNick: Type.String({ minLength: 1, maxLength: 64, default: "MIMI bridge" }),
      },
      { additionalProperties: false, default: {} },
    ),
    ghostResource: Type.String({ minLength: 1, maxLength: 64, default: "mimi" }),
  },
  { additionalProperties: false },
);

/** After resolveXmppConfig the secret is always present (read from componentSecretFile if given). */
export type XmppConfig = Static<typeof XmppConfigSchema> & { componentSecret: string };

// Values copied from a sample or a template: running with them would make the component
// password guessable, so the adapter refuses them (like the Matrix registration placeholders).
const PLACEHOLDER = /^(?:.*(?:placeholder|change[-_ ]?me|replace[-_ ]?me).*|secret|password)$/i;
/** What callers may pass: everything with a default is optional. */
export type XmppConfigInput = Omit<Static<typeof XmppConfigSchema>, "admins" | "reconnect" | "keepaliveMs" | "stopTimeoutMs" | "limits" | "muc" | "ghostResource"> & {
  admins?: string[];
  reconnect?: Partial<XmppConfig["reconnect"]>;
  keepaliveMs?: number;
  stopTimeoutMs?: number;
  limits?: Partial<XmppConfig["limits"]>;
  muc?: Partial<XmppConfig["muc"]>;
  ghostResource?: string;
};

/** Applies the schema's defaults and checks the result. Never puts the secret in an error. */
export function resolveXmppConfig(input: Readonly<XmppConfigInput>): XmppConfig {
  const value: unknown = Value.Default(XmppConfigSchema, structuredClone(input));
  if (!Value.Check(XmppConfigSchema, value)) {
    const problems = [...Value.Errors(XmppConfigSchema, value)].slice(0, 5).map((e) => `${e.path || "/"}: ${e.message}`);
    throw new MimiError("MIMI_ERR_CONFIG_INVALID", `adapters.xmpp is invalid: ${problems.join("; ")}`, { details: { problems } });
  }
  const secret = componentSecretOf(value);
  return { ...value, componentSecret: secret };
}

function componentSecretOf(value: Static<typeof XmppConfigSchema>): string {
  const invalid = (problem: string): MimiError =>
    new MimiError("MIMI_ERR_CONFIG_INVALID", `adapters.xmpp is invalid: ${problem}`, { details: { problems: [problem] } });
  const { componentSecret, componentSecretFile } = value;
  if ((componentSecret === undefined) === (componentSecretFile === undefined)) {
    throw invalid("/componentSecret: give exactly one of componentSecret and componentSecretFile");
  }
  let secret = componentSecret;
  if (componentSecretFile !== undefined) {
    try {
      // A secret file others can read is a leaked secret (the same rule as the TLS key files).
      if ((statSync(componentSecretFile).mode & 0o077) !== 0) {
        throw invalid(`/componentSecretFile: ${componentSecretFile} must not be readable by group or others (chmod 600)`);
      }
      secret = readFileSync(componentSecretFile, "utf8").trim();
    } catch (err) {
      if (err instanceof MimiError) throw err;
      throw new MimiError("MIMI_ERR_CONFIG_INVALID", `adapters.xmpp is invalid: /componentSecretFile: cannot read ${componentSecretFile}`, {
        cause: err,
        details: { problems: ["/componentSecretFile: cannot read"] },
      });
    }
    if (secret.length === 0) throw invalid(`/componentSecretFile: ${componentSecretFile} is empty`);
  }
  if (secret === undefined || PLACEHOLDER.test(secret)) {
    throw invalid("/componentSecret: a placeholder secret; generate one (e.g. openssl rand -hex 32) and give it to the XMPP server and the bridge");
  }
  return secret;
}
