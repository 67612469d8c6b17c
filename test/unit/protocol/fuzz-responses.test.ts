// MIMI-PROTO-FUZZ-01 (DESIGN.md §7, MIMI-CODEC-15): random and mutated bytes never crash a
// response decoder: only MIMI_ERR_CODEC_ MimiErrors, and accepted inputs are canonical.
import { test } from "node:test";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  GroupInfoRatchetTreeTBE,
  GroupInfoResponse,
  IdentifierResponse,
  KeyMaterialResponse,
  SubmitMessageResponse,
  UpdateRoomResponse,
} from "../../../src/protocol/index.ts";
import { fuzz } from "./fuzz.ts";
import { groupInfoResponses, groupInfoTbe, identifierResponses, keyMaterialResponses, loadMls, submitMessageResponses, updateRoomResponses } from "./samples.ts";

const m = await loadMls();

test("MIMI-PROTO-FUZZ-01 KeyMaterialResponse decoder", () => {
  fuzz((b) => decodeExact(KeyMaterialResponse, b), (v) => encode(KeyMaterialResponse, v), keyMaterialResponses(m).map((r) => encode(KeyMaterialResponse, r)));
});

test("MIMI-PROTO-FUZZ-01 UpdateRoomResponse decoder", () => {
  fuzz((b) => decodeExact(UpdateRoomResponse, b), (v) => encode(UpdateRoomResponse, v), updateRoomResponses().map((r) => encode(UpdateRoomResponse, r)));
});

test("MIMI-PROTO-FUZZ-01 SubmitMessageResponse decoder", () => {
  fuzz((b) => decodeExact(SubmitMessageResponse, b), (v) => encode(SubmitMessageResponse, v), submitMessageResponses().map((r) => encode(SubmitMessageResponse, r)));
});

test("MIMI-PROTO-FUZZ-01 GroupInfoResponse decoder", () => {
  fuzz((b) => decodeExact(GroupInfoResponse, b), (v) => encode(GroupInfoResponse, v), groupInfoResponses(m).map((r) => encode(GroupInfoResponse, r)));
});

test("MIMI-PROTO-FUZZ-01 GroupInfoRatchetTreeTBE decoder (what a joiner decrypts)", () => {
  fuzz((b) => decodeExact(GroupInfoRatchetTreeTBE, b), (v) => encode(GroupInfoRatchetTreeTBE, v), [encode(GroupInfoRatchetTreeTBE, groupInfoTbe(m))]);
});

test("MIMI-PROTO-FUZZ-01 IdentifierResponse decoder", () => {
  fuzz((b) => decodeExact(IdentifierResponse, b), (v) => encode(IdentifierResponse, v), identifierResponses().map((r) => encode(IdentifierResponse, r)));
});
