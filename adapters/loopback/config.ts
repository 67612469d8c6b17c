// The `adapters.loopback` config section (validated with the rest of the configuration).
import { Type, type Static } from "@sinclair/typebox";

export const LoopbackConfigSchema = Type.Object(
  {
    /** Local user names this adapter serves; empty: any name. */
    users: Type.Array(Type.String({ pattern: "^[a-z0-9._-]{1,64}$" }), { default: [], maxItems: 10000 }),
  },
  { additionalProperties: false, description: "the in-memory loopback adapter (conformance tests, demos)" },
);
export type LoopbackConfig = Static<typeof LoopbackConfigSchema>;
