// Structs (RFC 8446 §3.6) and variants (RFC 8446 §3.8), declared once as an ordered field list
// from which both the encoder/decoder and the TypeScript type are derived.
//
//   const Frank = struct("Frank", [
//     ["serverFrank", opaque(32)],
//     ["frankingSignatureCiphersuite", uint16],
//     ["frankingIntegritySignature", opaqueV],
//   ]);
//   type Frank = Infer<typeof Frank>;
//   // { serverFrank: Uint8Array; frankingSignatureCiphersuite: number; frankingIntegritySignature: Uint8Array }
//
// A `select (field) { case …: … }` on an EARLIER field of the same struct, which the MIMI drafts
// use all the time (`select (protocol) { case mls10: … }`), is a `selectOn(...)` entry whose cases
// are structs; the chosen case's fields are merged into the struct value, and the struct type is
// a discriminated union on that field:
//
//   const SubmitMessageResponse = struct("SubmitMessageResponse", [
//     ["protocol", ProtocolCodec],
//     ["statusCode", SubmitResponseCodeCodec],
//     selectOn("statusCode", {
//       [SubmitResponseCode.accepted]: struct("accepted", [["acceptedTimestamp", uint64]]),
//       [SubmitResponseCode.notAllowed]: empty,
//     }),
//   ]);
import type { MimiError } from "../errors.ts";
import type { Codec, Infer } from "./codec.ts";
import { codecError, declarationError, describe, withPath } from "./fail.ts";

/** A struct codec also knows the field names its values can have (used to detect clashes). */
export interface StructCodec<T> extends Codec<T> {
  readonly fieldNames: readonly string[];
}

/** `[name, codec]`: one field, in wire order. */
export type FieldEntry = readonly [name: string, codec: Codec<unknown>];

declare const selectValue: unique symbol;

/** A `select (on) { … }` inside a struct; build it with selectOn(). */
export interface SelectEntry<K extends string, U> {
  readonly kind: "select";
  readonly on: K;
  readonly cases: ReadonlyMap<number, StructCodec<object>>;
  /** Type-level only: the union of the case shapes. Never present at run time. */
  readonly [selectValue]?: U;
}

export type StructEntry = FieldEntry | SelectEntry<string, unknown>;

/** Case map for a select: discriminant value → struct of the fields that follow it. */
export type SelectCases = { readonly [tag: number]: StructCodec<object> };

type Simplify<T> = T extends unknown ? { [K in keyof T]: T[K] } : never;

type TagOf<T> = T extends number ? T : T extends `${infer N extends number}` ? N : never;

/** The value of one arm per declared tag: `{ [on]: tag } & caseFields`, as a union. */
export type SelectValue<K extends string, C> = { [T in keyof C]: { [P in K]: TagOf<T> } & Infer<C[T]> }[keyof C];

type EntryValue<E> = E extends readonly [infer N extends string, infer C]
  ? { [P in N]: Infer<C> }
  : E extends SelectEntry<string, infer U>
    ? U
    : never;

type Fold<F> = F extends readonly [infer H, ...infer R] ? EntryValue<H> & Fold<R> : unknown;

/** The TypeScript value type of a struct declared with the field list F. */
export type StructValue<F extends readonly StructEntry[]> = Simplify<Fold<F>>;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function isStructCodec(c: unknown): c is StructCodec<object> {
  return typeof c === "object" && c !== null && Array.isArray((c as { fieldNames?: unknown }).fieldNames);
}

/** A select on the earlier field `on`; each case is a struct whose fields follow in that arm. */
export function selectOn<const K extends string, const C extends SelectCases>(on: K, cases: C): SelectEntry<K, SelectValue<K, C>> {
  const map = new Map<number, StructCodec<object>>();
  for (const [key, codec] of Object.entries(cases)) {
    const tag = Number(key);
    if (!Number.isSafeInteger(tag)) throw declarationError(`select on ${on}: case key ${key} is not an integer`);
    if (!isStructCodec(codec)) throw declarationError(`select on ${on}: case ${key} must be a struct codec (use struct(...) or empty)`);
    map.set(tag, codec);
  }
  return { kind: "select", on, cases: map };
}

type Step =
  | { readonly kind: "field"; readonly name: string; readonly segment: string; readonly codec: Codec<unknown> }
  | { readonly kind: "select"; readonly on: string; readonly cases: ReadonlyMap<number, StructCodec<object>> };

/** A struct (RFC 8446 §3.6): fields encoded in declaration order with no framing of their own. */
export function struct<const F extends readonly StructEntry[]>(name: string, fields: F): StructCodec<StructValue<F>> {
  const steps: Step[] = [];
  const base = new Set<string>();
  const caseNames = new Set<string>();
  for (const entry of fields as readonly StructEntry[]) {
    if (Array.isArray(entry)) {
      const [field, codec] = entry as FieldEntry;
      if (!IDENTIFIER.test(field) || field === "__proto__") throw declarationError(`struct ${name}: bad field name ${JSON.stringify(field)}`);
      if (base.has(field) || caseNames.has(field)) throw declarationError(`struct ${name}: duplicate field ${field}`);
      base.add(field);
      steps.push({ kind: "field", name: field, segment: `.${field}`, codec });
    } else {
      const sel = entry as SelectEntry<string, unknown>;
      if (!base.has(sel.on)) throw declarationError(`struct ${name}: select on ${sel.on}, which is not an earlier field`);
      for (const c of sel.cases.values()) {
        for (const f of c.fieldNames) {
          if (base.has(f)) throw declarationError(`struct ${name}: field ${f} of a case of select(${sel.on}) clashes with a field of the struct`);
          caseNames.add(f);
        }
      }
      steps.push({ kind: "select", on: sel.on, cases: sel.cases });
    }
  }

  // RFC 8446 §3.8: the arm is chosen by the discriminant's value; one that has no arm here is
  // not something we can parse or produce.
  const noCase = (on: string, tag: unknown, offset?: number): MimiError =>
    codecError(
      "MIMI_ERR_CODEC_INVALID_ENUM",
      `${describe(tag)} is not a value that ${name}.${on} selects on${offset === undefined ? "" : ` (offset ${offset})`}`,
      offset === undefined ? { struct: name, on, value: tag, path: `.${on}` } : { struct: name, on, value: tag, offset, path: `.${on}` },
    );

  const codec: StructCodec<Record<string, unknown>> = {
    name,
    fieldNames: Object.freeze([...base, ...caseNames]),
    encode(w, value) {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw codecError("MIMI_ERR_CODEC_VALUE_OUT_OF_RANGE", `${describe(value)} does not fit struct ${name}`, { type: name });
      }
      for (const step of steps) {
        if (step.kind === "field") {
          try {
            step.codec.encode(w, value[step.name]);
          } catch (err) {
            withPath(err, step.segment);
          }
        } else {
          const tag = value[step.on];
          const arm = typeof tag === "number" ? step.cases.get(tag) : undefined;
          // MIMI-CODEC-13: RFC 8446 §3.8 the discriminant selects the arm that is written.
          if (arm === undefined) throw noCase(step.on, tag);
          arm.encode(w, value);
        }
      }
    },
    decode(r) {
      const out: Record<string, unknown> = {};
      for (const step of steps) {
        if (step.kind === "field") {
          try {
            out[step.name] = step.codec.decode(r);
          } catch (err) {
            withPath(err, step.segment);
          }
        } else {
          const tag = out[step.on];
          const arm = typeof tag === "number" ? step.cases.get(tag) : undefined;
          // MIMI-CODEC-13: RFC 8446 §3.8 a discriminant value with no declared arm is rejected.
          if (arm === undefined) throw noCase(step.on, tag, r.offset);
          Object.assign(out, arm.decode(r));
        }
      }
      return out;
    },
  };
  return codec as unknown as StructCodec<StructValue<F>>;
}

/** `struct {}`: the arm of a select that carries nothing. */
export const empty = struct("struct{}", []);

/**
 * A discriminated union on its own (RFC 8446 §3.8): the discriminant, then the chosen arm.
 *
 *   const Credential = variant("Credential", "credentialType", CredentialTypeCodec, {
 *     [CredentialType.basic]: struct("basic", [["identity", opaqueV]]),
 *     [CredentialType.x509]: struct("x509", [["certificates", vectorV(opaqueV)]]),
 *   });
 *   // { credentialType: 1; identity: Uint8Array } | { credentialType: 2; certificates: Uint8Array[] }
 */
export function variant<const K extends string, T extends number, const C extends SelectCases>(
  name: string,
  tagField: K,
  tag: Codec<T>,
  cases: C,
): StructCodec<Simplify<{ [P in K]: T } & SelectValue<K, C>>> {
  return struct(name, [[tagField, tag], selectOn(tagField, cases)]);
}
