// The adapter conformance suite (test/adapters/conformance.ts) against the XMPP adapter running
// inside provider a.example, with real @xmpp/client users on a real Prosody (driver.ts).
import { adapterConformance } from "../conformance.ts";
import { xmppDriver } from "./driver.ts";

adapterConformance("xmpp", xmppDriver);
