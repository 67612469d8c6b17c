// XMPP message payloads → PlatformEvents (the submit side of every mapping), shared by one-to-one
// chats, component MUCs and bridged server MUCs.
import { platformEventId, type AdapterStore, type PlatformEvent, type PlatformRoomId, type PlatformUserId } from "../../src/adapter/index.ts";
import { key } from "./ids.ts";
import type { ParsedMessage } from "./rich.ts";

export type RefKind = "replace" | "reply" | "reaction" | "retract" | "displayed";

export interface InboundSpec {
  readonly room: PlatformRoomId;
  readonly sender: PlatformUserId;
  /** The platformEventId of the message itself (dedupe key; edits and replies point at it). */
  readonly primaryId: string;
  readonly parsed: ParsedMessage;
  readonly timestamp: number;
  /** Maps an ID named by the stanza to the platformEventId the core knows. */
  readonly resolveRef: (id: string, kind: RefKind) => Promise<string>;
}

export interface InboundPlan {
  readonly events: PlatformEvent[];
  /** Persists adapter-side state (reaction sets) once the core accepted the events. */
  readonly commit: () => Promise<void>;
  /** True when the stanza carries a message or a change to one (not only typing or markers). */
  readonly content: boolean;
}

const noop = async (): Promise<void> => {};

/** Builds the PlatformEvents of one <message/>. */
export async function planInbound(spec: InboundSpec, store: AdapterStore): Promise<InboundPlan> {
  const { room, sender, primaryId, parsed, timestamp } = spec;
  const base = { room, sender, timestamp };
  const pid = platformEventId;

  // MIMI-XMPP-13: XEP-0424 retraction → message.retract.
  if (parsed.retract !== undefined) {
    const target = await spec.resolveRef(parsed.retract, "retract");
    return { events: [{ ...base, type: "message.retract", platformEventId: pid(primaryId), target: pid(target) }], commit: noop, content: true };
  }

  // MIMI-XMPP-12: XEP-0444 reaction set → reaction.add / reaction.remove (diff to the last set).
  if (parsed.reactions !== undefined) {
    const target = await spec.resolveRef(parsed.reactions.id, "reaction");
    const k = key("react", room, sender, target);
    const before = new Set((await store.get<string[]>(k)) ?? []);
    const after = new Set(parsed.reactions.emojis);
    const events: PlatformEvent[] = [];
    for (const e of after) if (!before.has(e)) events.push({ ...base, type: "reaction.add", platformEventId: pid(`${primaryId}:+${e}`), target: pid(target), reaction: e });
    for (const e of before) if (!after.has(e)) events.push({ ...base, type: "reaction.remove", platformEventId: pid(`${primaryId}:-${e}`), target: pid(target), reaction: e });
    const commit = async () => {
      if (after.size === 0) await store.del(k);
      else await store.put(k, [...after]);
    };
    return { events, commit, content: true };
  }

  const text = parsed.body ?? "";
  const hasContent = text.trim().length > 0 || parsed.attachments.length > 0;

  // MIMI-XMPP-10: XEP-0308 correction → message.edit (target: the first version).
  if (parsed.replace !== undefined && parsed.body !== undefined) {
    const target = await spec.resolveRef(parsed.replace, "replace");
    return { events: [{ ...base, type: "message.edit", platformEventId: pid(primaryId), target: pid(target), text }], commit: noop, content: true };
  }

  if (hasContent) {
    const replyTo = parsed.reply === undefined ? undefined : await spec.resolveRef(parsed.reply.id, "reply");
    const event: PlatformEvent = {
      ...base,
      type: "message",
      platformEventId: pid(primaryId),
      text,
      ...(replyTo === undefined ? {} : { replyTo: pid(replyTo) }),
      ...(parsed.thread === undefined ? {} : { thread: parsed.thread }),
      ...(parsed.attachments.length === 0 ? {} : { attachments: parsed.attachments }),
    };
    return { events: [event], commit: noop, content: true };
  }

  // MIMI-XMPP-14: XEP-0333 displayed → receipt.read.
  if (parsed.displayed !== undefined) {
    const target = await spec.resolveRef(parsed.displayed, "displayed");
    return { events: [{ ...base, type: "receipt.read", platformEventId: pid(`displayed:${target}`), target: pid(target) }], commit: noop, content: false };
  }

  // MIMI-XMPP-15: XEP-0085 chat state → typing (composing is active; every other state is not).
  if (parsed.chatState !== undefined) {
    return {
      events: [{ ...base, type: "typing", platformEventId: pid(`typing:${primaryId}`), active: parsed.chatState === "composing" }],
      commit: noop,
      content: false,
    };
  }
  return { events: [], commit: noop, content: false };
}
