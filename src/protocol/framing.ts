// Shapes of draft-ietf-mimi-protocol-06 structs that the generic struct()/selectOn() helpers of
// src/codec cannot say on their own:
//
// - constrained(): a codec plus a rule its values must keep, checked on decode AND on encode (so
//   we never send what we would refuse), e.g. "for other user codes `clients` MUST be empty";
// - mlsMessageWhere(): an MLSMessage whose wire format / content type must fit its place, e.g.
//   SubmitMessageRequest.appMessage is a PrivateMessage of content type application;
// - selectOnDerived(): `select (message.content.content_type)`-style selects whose discriminant
//   is not a field of the struct but something seen INSIDE an earlier field (HandshakeBundle,
//   FanoutMessage). The derived discriminant is kept in the value as `kind`, so TypeScript can
//   narrow on it; on encode it must agree with what the earlier field really is.
//
// Every failure is a MimiError: MIMI_ERR_CODEC_CONSTRAINT for a broken rule (details.rule holds
// the traceability ID), MIMI_ERR_CODEC_INVALID_ENUM for a derived discriminant with no arm
// (MIMI-CODEC-13, as for ordinary selects).
import type { Codec, Infer, Reader, StructCodec, Writer } from "../codec/index.ts";
import { MimiError } from "../errors.ts";
import { MLSMessage, mlsMessageInfo } from "../mls/wire.ts";
import type { MlsMessageBytes, MlsMessageInfo } from "../mls/wire.ts";

function constraintError(codecName: string, rule: string, problem: string, offset?: number): MimiError {
  const details: Record<string, unknown> = { rule, path: "" };
  if (offset !== undefined) details["offset"] = offset;
  return new MimiError("MIMI_ERR_CODEC_CONSTRAINT", `${codecName}: ${problem} (${rule})`, { details });
}

/**
 * `inner` with a rule: `check` returns undefined when the value is fine, or a description of the
 * problem. `rule` is the traceability ID of the requirement (MIMI-PROTO-…).
 */
export function constrained<T>(inner: Codec<T>, rule: string, check: (value: T) => string | undefined): Codec<T> {
  return {
    name: inner.name,
    encode(w: Writer, value: T) {
      const problem = check(value);
      if (problem !== undefined) throw constraintError(inner.name, rule, problem);
      inner.encode(w, value);
    },
    decode(r: Reader) {
      const start = r.offset;
      const value = inner.decode(r);
      const problem = check(value);
      if (problem !== undefined) throw constraintError(inner.name, rule, problem, start);
      return value;
    },
  };
}

/** An MLSMessage that must satisfy `check` (on its wire format, content type, …). */
export function mlsMessageWhere(name: string, rule: string, check: (info: MlsMessageInfo) => string | undefined): Codec<MlsMessageBytes> {
  return constrained({ ...MLSMessage, name }, rule, (m) => check(mlsMessageInfo(m)));
}

type Simplify<T> = T extends unknown ? { [K in keyof T]: T[K] } : never;

/** The value of a selectOnDerived codec: the head's fields, `kind`, and the arm's fields. */
export type DerivedValue<H, C extends Record<string, Codec<unknown>>> = { [K in keyof C & string]: Simplify<H & { kind: K } & Infer<C[K]>> }[keyof C &
  string];

/**
 * `head` (a struct), then the arm `cases[derive(head)]`. `derive` names the arm from what the head
 * holds, or returns undefined when nothing in `cases` fits (a decode error, INVALID_ENUM). `rule`
 * is the ID of the choice that defines the derivation (reported when a value's `kind` disagrees).
 */
export function selectOnDerived<H extends object, const C extends Record<string, StructCodec<object>>>(
  name: string,
  rule: string,
  head: StructCodec<H>,
  derive: (head: H) => (keyof C & string) | undefined,
  cases: C,
): Codec<DerivedValue<H, C>> {
  const arms = new Map<string, StructCodec<object>>(Object.entries(cases));
  return {
    name,
    encode(w: Writer, value: DerivedValue<H, C>) {
      if (typeof value !== "object" || value === null) {
        throw new MimiError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `value does not fit ${name}`, { details: { type: name } });
      }
      // The head first: its own rules (which message may stand here) come before the arm's.
      head.encode(w, value);
      const kind = derive(value);
      const arm = kind === undefined ? undefined : arms.get(kind);
      if (kind === undefined || arm === undefined) {
        throw new MimiError("MIMI_ERR_CODEC_INVALID_ENUM", `${name}: the message has no arm here`, { details: { struct: name, path: "" } });
      }
      const given = (value as { kind?: unknown }).kind;
      if (given !== kind) {
        throw constraintError(name, rule, `kind is ${String(given)} but the message is ${kind}`);
      }
      arm.encode(w, value);
    },
    decode(r: Reader) {
      const h = head.decode(r);
      const at = r.offset;
      const kind = derive(h);
      const arm = kind === undefined ? undefined : arms.get(kind);
      if (kind === undefined || arm === undefined) {
        throw new MimiError("MIMI_ERR_CODEC_INVALID_ENUM", `${name}: the message before offset ${at} selects no arm`, {
          details: { struct: name, offset: at, path: "" },
        });
      }
      return { ...h, kind, ...arm.decode(r) } as DerivedValue<H, C>;
    },
  };
}
