// Fanout Messages and Room Events (draft-ietf-mimi-protocol-06 §5.5): POST /notify/{roomId}, from
// the hub to a follower, with one or more concatenated FanoutMessages; the answer is 201, no body.
import { encode, optional, struct, uint64, vectorV, Reader, Writer } from "../codec/index.ts";
import type { DecodeOptions, Infer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { ContentType, WireFormat, mlsMessageInfo, welcomeToMlsMessage } from "../mls/wire.ts";
import type { MlsMessageBytes, WelcomeBytes } from "../mls/wire.ts";
import { mlsMessageWhere, selectOnDerived } from "./framing.ts";
import { Frank } from "./submitMessage.ts";
import type { HandshakeBundle, RatchetTreeOption } from "./update.ts";
import { ProposalMessage, RatchetTreeOption as RatchetTreeOptionCodec } from "./update.ts";

/** The four arms of a FanoutMessage: what kind of MLS message the hub relays. */
export type FanoutKind = "application" | "welcome" | "proposal" | "commit";

// MIMI-PROTO-FANOUT-03: protocol-06 §5.5 the message is "A PrivateMessage containing an
// application message, a SemiPrivateMessage or PublicMessage containing a proposal or commit, or
// a Welcome message" (RFC 9420 §6.2: application data is never a PublicMessage).
// MIMI-PROTO-CHOICE-24: no SemiPrivateMessage yet (ts-mls 1.6.4 cannot parse it).
const FanoutMlsMessage = mlsMessageWhere("MLSMessage(fanout)", "MIMI-PROTO-FANOUT-03", (info) => {
  switch (info.wireFormat) {
    case WireFormat.mls_welcome:
      return undefined;
    case WireFormat.mls_private_message:
      return info.contentType === ContentType.application ? undefined : "a PrivateMessage must carry an application message";
    case WireFormat.mls_public_message:
      return info.contentType === ContentType.application ? "a PublicMessage must carry a proposal or commit" : undefined;
    default:
      return `wire format ${info.wireFormat} is not fanned out`;
  }
});

// MIMI-PROTO-CHOICE-02: the draft selects on `message.wire_format` with cases application /
// welcome / proposal / commit, which are content types, not wire formats. A receiver knows the
// arm from the MLSMessage itself: wire_format mls_welcome is the welcome arm; otherwise the
// content_type, which both PublicMessage (FramedContent.content_type) and PrivateMessage (its
// clear header) carry in clear (RFC 9420 §6.2, §6.3). No extra byte goes on the wire; the value
// keeps the result as `kind`.
function fanoutKind(head: { message: MlsMessageBytes }): FanoutKind | undefined {
  const info = mlsMessageInfo(head.message);
  if (info.wireFormat === WireFormat.mls_welcome) return "welcome";
  switch (info.contentType) {
    case ContentType.application:
      return "application";
    case ContentType.proposal:
      return "proposal";
    case ContentType.commit:
      return "commit";
    default:
      return undefined;
  }
}

// MIMI-PROTO-CHOICE-01: `select (protocol)` but FanoutMessage has no protocol field: as for
// UpdateRequest (`room.protocol`), the protocol is the room's (mls10); nothing is on the wire.
// MIMI-PROTO-CHOICE-03: `optional Frank frank` is `optional<Frank>`.
/** FanoutMessage (protocol-06 §5.5). */
export const FanoutMessage = selectOnDerived(
  "FanoutMessage",
  "MIMI-PROTO-CHOICE-02",
  struct("FanoutMessage.head", [
    // the hub acceptance time, milliseconds since the Unix epoch
    ["timestamp", uint64],
    ["message", FanoutMlsMessage],
  ]),
  fanoutKind,
  {
    application: struct("FanoutMessage.application", [["frank", optional(Frank)]]),
    welcome: struct("FanoutMessage.welcome", [["ratchetTreeOption", RatchetTreeOptionCodec]]),
    // a list of additional proposals; MUST equal the HandshakeBundle's (MIMI-PROTO-FANOUT-01)
    proposal: struct("FanoutMessage.proposal", [["moreProposals", vectorV(ProposalMessage)]]),
    // hub proposals regenerated after an external commit, stapled to it
    commit: struct("FanoutMessage.commit", [["externalProposals", vectorV(ProposalMessage)]]),
  },
);
export type FanoutMessage = Infer<typeof FanoutMessage>;

// ---- /notify bodies -----------------------------------------------------------------------------

// MIMI-PROTO-FANOUT-02: protocol-06 §5.5 "The hub can include multiple concatenated FanoutMessage
// objects relevant to the same room." MIMI-PROTO-CHOICE-26: there is no count or framing, so the
// body is read as FanoutMessages back to back until it ends; an empty body, or one whose last
// message is cut short, is an error (nothing of it is delivered).
/** Decodes a /notify body: one or more concatenated FanoutMessages. Throws MimiError. */
export function decodeNotifyBody(body: Uint8Array, options?: DecodeOptions): FanoutMessage[] {
  const r = new Reader(body, options);
  if (r.atEnd) {
    throw new MimiError("MIMI_ERR_CODEC_TRUNCATED", "a /notify body holds at least one FanoutMessage; this one is empty", {
      details: { offset: 0, needed: 1, available: 0, path: "notify" },
    });
  }
  const out: FanoutMessage[] = [];
  while (!r.atEnd) {
    try {
      out.push(FanoutMessage.decode(r));
    } catch (err) {
      if (err instanceof MimiError) {
        if (err.details !== undefined) {
          const prev = err.details["path"];
          err.details["path"] = `notify[${out.length}].FanoutMessage${typeof prev === "string" ? prev : ""}`;
        }
        throw err;
      }
      throw new MimiError("MIMI_ERR_INTERNAL", "FanoutMessage decoder threw a non-MimiError", { cause: err });
    }
  }
  return out;
}

/** Encodes a /notify body from one or more FanoutMessages (concatenated). Throws MimiError. */
export function encodeNotifyBody(messages: readonly FanoutMessage[]): Uint8Array {
  if (messages.length === 0) {
    throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", "a /notify body holds at least one FanoutMessage", { details: { type: "notify" } });
  }
  if (messages.length === 1) return encode(FanoutMessage, messages[0]!);
  const w = new Writer();
  for (const m of messages) w.writeBytes(encode(FanoutMessage, m));
  return w.finish();
}

// ---- building FanoutMessages ----------------------------------------------------------------------

/**
 * The FanoutMessage for an accepted HandshakeBundle. MIMI-PROTO-FANOUT-01: protocol-06 §5.5 "The
 * moreProposals list in a FanoutMessage MUST be the same as the corresponding moreProposals list
 * in the HandshakeBundle of an UpdateRequest": it is copied as is. For a commit, the hub may staple
 * `externalProposals` (its regenerated proposals after an external commit).
 */
export function fanoutFromHandshakeBundle(bundle: HandshakeBundle, timestamp: bigint, externalProposals: MlsMessageBytes[] = []): FanoutMessage {
  if (bundle.kind === "proposal") {
    return { kind: "proposal", timestamp, message: bundle.proposalOrCommit, moreProposals: [...bundle.moreProposals] };
  }
  return { kind: "commit", timestamp, message: bundle.proposalOrCommit, externalProposals: [...externalProposals] };
}

/**
 * The FanoutMessage carrying a Welcome. The HandshakeBundle holds the bare Welcome; the
 * FanoutMessage holds it as MLSMessage (wire_format mls_welcome), with how to get the ratchet tree.
 */
export function fanoutWelcome(welcome: WelcomeBytes, ratchetTreeOption: RatchetTreeOption, timestamp: bigint): FanoutMessage {
  return { kind: "welcome", timestamp, message: welcomeToMlsMessage(welcome), ratchetTreeOption };
}
