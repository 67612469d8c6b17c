// The adapter conformance suite (test/adapters/conformance.ts) against the Matrix adapter running
// inside provider a.example, with real Matrix users on a real Synapse (driver.ts).
// MIMI-MATRIX-03 (users, ghosts, identity), MIMI-MATRIX-04 (rooms, portals, membership),
// MIMI-MATRIX-05 (messages, replies, edits, reactions, redactions).
import { adapterConformance } from "../conformance.ts";
import { matrixDriver } from "./driver.ts";

adapterConformance("matrix (MIMI-MATRIX-03/04/05)", matrixDriver);
