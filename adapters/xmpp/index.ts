// The XMPP adapter (issue 5): `xmppAdapter()` is what the bridge host loads for `adapters.xmpp`.
import type { Adapter } from "../../src/adapter/index.ts";
import { XmppAdapter } from "./adapter.ts";
import type { XmppConfig } from "./config.ts";

export { XmppAdapter } from "./adapter.ts";
export { XmppConfigSchema, resolveXmppConfig } from "./config.ts";
export type { XmppConfig, XmppConfigInput } from "./config.ts";
export { XmppIds, escapeRoomPart, unescapeRoomPart, stanzaIdFor, mucStanzaId } from "./ids.ts";

/** A new XMPP adapter (one per configured XMPP server). */
export function xmppAdapter(): XmppAdapter {
  const adapter = new XmppAdapter();
  return adapter satisfies Adapter<XmppConfig>;
}
