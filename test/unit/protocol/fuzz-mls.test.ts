// MIMI-PROTO-FUZZ-01 for the raw MLS codecs of src/mls/wire.ts, which walk untrusted bytes with
// ts-mls: only MIMI_ERR_CODEC_ MimiErrors (ts-mls's own throws are wrapped), and whatever is
// accepted is the canonical encoding (MIMI-PROTO-MLS-02).
import { test } from "node:test";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import type { Codec } from "../../../src/codec/index.ts";
import { Credential, GroupInfo, KeyPackage, MLSMessage, RatchetTree, Welcome } from "../../../src/mls/wire.ts";
import { fuzz } from "./fuzz.ts";
import { loadMls } from "./samples.ts";

const { raw } = await loadMls();

function fuzzRaw<T>(codec: Codec<T>, seeds: Uint8Array[], runs?: number): void {
  fuzz((b) => decodeExact(codec, b), (v) => encode(codec, v), seeds, runs);
}

test("MIMI-PROTO-FUZZ-01 MLSMessage decoder (every wire format)", () => {
  fuzzRaw(MLSMessage, [
    raw.commitPublicMessage,
    raw.proposalPublicMessage,
    raw.proposalPublicMessage2,
    raw.applicationPrivateMessage,
    raw.commitPrivateMessage,
    raw.welcomeMessage,
    raw.groupInfoMessage,
    raw.keyPackageMessage,
  ]);
});

test("MIMI-PROTO-FUZZ-01 KeyPackage decoder", () => {
  fuzzRaw(KeyPackage, [raw.keyPackage, raw.keyPackage2]);
});

test("MIMI-PROTO-FUZZ-01 Welcome, GroupInfo, Credential and ratchet tree decoders", () => {
  fuzzRaw(Welcome, [raw.welcome]);
  fuzzRaw(GroupInfo, [raw.groupInfo]);
  fuzzRaw(Credential, [raw.credential]);
  fuzzRaw(RatchetTree, [raw.ratchetTree]);
});
