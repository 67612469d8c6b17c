// MIMI-PROTO-FUZZ-01 (DESIGN.md §7, MIMI-CODEC-15): random and mutated bytes never crash a request
// decoder: only MIMI_ERR_CODEC_ MimiErrors, and accepted inputs are canonical. 10,000 runs each.
import { test } from "node:test";
import { decodeExact, encode } from "../../../src/codec/index.ts";
import {
  AbuseReport,
  ConsentEntry,
  FanoutMessage,
  GroupInfoRequest,
  IdentifierRequest,
  KeyMaterialRequest,
  SubmitMessageRequest,
  UpdateRequest,
  decodeNotifyBody,
  decodeRequestConsentBody,
  decodeUpdateConsentBody,
  encodeNotifyBody,
} from "../../../src/protocol/index.ts";
import { fuzz } from "./fuzz.ts";
import {
  abuseReports,
  consentEntries,
  fanoutMessages,
  groupInfoRequest,
  identifierRequests,
  keyMaterialRequest,
  loadMls,
  submitMessageRequest,
  updateRequests,
} from "./samples.ts";

const m = await loadMls();

test("MIMI-PROTO-FUZZ-01 KeyMaterialRequest decoder", () => {
  fuzz((b) => decodeExact(KeyMaterialRequest, b), (v) => encode(KeyMaterialRequest, v), [encode(KeyMaterialRequest, keyMaterialRequest(m))]);
});

test("MIMI-PROTO-FUZZ-01 UpdateRequest decoder", () => {
  fuzz((b) => decodeExact(UpdateRequest, b), (v) => encode(UpdateRequest, v), updateRequests(m).map((r) => encode(UpdateRequest, r)));
});

test("MIMI-PROTO-FUZZ-01 SubmitMessageRequest decoder", () => {
  fuzz((b) => decodeExact(SubmitMessageRequest, b), (v) => encode(SubmitMessageRequest, v), [encode(SubmitMessageRequest, submitMessageRequest(m))]);
});

test("MIMI-PROTO-FUZZ-01 /notify body decoder (concatenated FanoutMessages)", () => {
  const all = fanoutMessages(m);
  const seeds = [...all.map((f) => encode(FanoutMessage, f)), encodeNotifyBody(all.slice(0, 2))];
  fuzz((b) => decodeNotifyBody(b), (v) => encodeNotifyBody(v), seeds);
});

test("MIMI-PROTO-FUZZ-01 GroupInfoRequest decoder", () => {
  fuzz((b) => decodeExact(GroupInfoRequest, b), (v) => encode(GroupInfoRequest, v), [
    encode(GroupInfoRequest, groupInfoRequest(m)),
    encode(GroupInfoRequest, groupInfoRequest(m, new Uint8Array([1, 2, 3]))),
  ]);
});

test("MIMI-PROTO-FUZZ-01 ConsentEntry decoders (requestConsent and updateConsent bodies)", () => {
  const seeds = consentEntries(m).map((e) => encode(ConsentEntry, e));
  fuzz((b) => decodeExact(ConsentEntry, b), (v) => encode(ConsentEntry, v), seeds);
  fuzz(decodeRequestConsentBody, (v) => encode(ConsentEntry, v), seeds.slice(0, 2));
  fuzz(decodeUpdateConsentBody, (v) => encode(ConsentEntry, v), seeds.slice(2));
});

test("MIMI-PROTO-FUZZ-01 IdentifierRequest decoder", () => {
  fuzz((b) => decodeExact(IdentifierRequest, b), (v) => encode(IdentifierRequest, v), identifierRequests().map((r) => encode(IdentifierRequest, r)));
});

test("MIMI-PROTO-FUZZ-01 AbuseReport decoder", () => {
  fuzz((b) => decodeExact(AbuseReport, b), (v) => encode(AbuseReport, v), abuseReports().map((r) => encode(AbuseReport, r)));
});
