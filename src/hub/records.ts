// What the hub stores per hosted room (namespace `rooms`, key `hub/<roomId>`), and the room
// templates it hands to creating clients (key `template/<roomId>`).
//
// The record holds the current epoch's GroupInfo and ratchet tree as the committer sent them
// (protocol-06: the hub keeps GroupInfo and tree for external joins and needs the tree to check
// signatures and map leaves to users); the participant list, roles and policy are read from the
// GroupInfo's app_data_dictionary, so there is one source of truth for room state.
import type { RoomKind } from "../policy/index.ts";

/** A proposal the hub accepted in the current epoch (protocol-06 §5.3), kept until committed. */
export interface PendingProposal {
  /** ProposalRef (RFC 9420 §5.2). */
  ref: Uint8Array;
  /** The PublicMessage as received. */
  message: Uint8Array;
  /** User URI of the proposer, or the external sender's provider URI. */
  sender: string;
  acceptedAt: number;
  /** A leave: the next committer MUST include it (protocol-06 §"Leaving"). */
  mustInclude: boolean;
}

export interface HubRoomRecord {
  roomId: string;
  kind: RoomKind;
  createdAt: number;
  creator: string;
  groupId: Uint8Array;
  epoch: number;
  cipherSuite: number;
  /** Bare GroupInfo (with external_pub), as the last committer sent it. */
  groupInfo: Uint8Array;
  /** RFC 9420 ratchet_tree extension data. */
  ratchetTree: Uint8Array;
  pending: PendingProposal[];
  /** Providers that receive this room's fanout (those with participants, plus removed ones for the removing commit). */
  providers: string[];
  /** Count of accepted handshakes (proposals and commits; messages do not rewrite the record). */
  accepted: number;
  /** Canonical participant-set key of a direct room (fixed membership), for one-room-per-set. */
  directKey?: string;
}

export interface RoomTemplate {
  roomId: string;
  groupId: Uint8Array;
  kind: RoomKind;
  creator: string;
  participantList: Uint8Array;
  rolesList: Uint8Array;
  baseRoomPolicy: Uint8Array;
  directKey?: string;
  expiresAt: number;
}
