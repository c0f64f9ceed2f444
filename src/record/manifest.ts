// manifest.json: what a recording holds and how to trust it. Every file is
// listed with its sha256 (`sha256sum -c` can check them, see sha256sumLines),
// with the command line and the Kubernetes objects that named the traffic at
// record time, so a later `shark dissect --meta manifest.json` restores names.

import type { ClusterSnapshot } from '../model/cluster.js';

export const MANIFEST = 'manifest.json';
/** Present while a recording is being written; a leftover one means the run was killed. */
export const INCOMPLETE = 'INCOMPLETE';
export const MANIFEST_VERSION = 1;

export type StopReason = 'duration' | 'packets' | 'idle' | 'end-of-input' | 'interrupted' | 'output-closed' | 'disk-full';

export interface ManifestFile {
  name: string;
  kind: 'pcap' | 'pcapng' | 'entries';
  bytes: number;
  sha256: string;
  /** Packets (capture files) or entries (entry files). */
  count: number;
  /** ISO times of the first and last record. */
  first?: string;
  last?: string;
}

export interface Manifest {
  version: number;
  name: string;
  /** ISO times. */
  start: string;
  end: string;
  status: 'complete' | 'disk-full' | 'recovered';
  stopReason?: StopReason;
  packets: number;
  entries: number;
  /** Packets libpcap or our queue dropped (live sources); flows the capture helper shed whole, and their packets. */
  dropped?: { kernel?: number; interface?: number; lost?: number; shedFlows?: number; shedPackets?: number };
  /** What dissection lost or damaged (flows evicted by the memory budget, gaps, malformed messages…), by counter. */
  losses?: Record<string, number>;
  source: { kind: 'live' | 'pcap' | 'pcapng' | 'ndjson'; interfaces?: string[]; filter?: string };
  command: string[];
  files: ManifestFile[];
  /** The cluster at record time (`shark dissect --meta manifest.json` reads it). */
  cluster?: ClusterSnapshot;
  /** Why `cluster` is missing although it was asked for (unreachable API server …). */
  clusterError?: string;
  /** Changes to the cluster during the recording, replayed over `cluster` by `dissect --meta`. */
  clusterChanges?: { file: string; changes: number; dropped: number; error?: string };
  recovered?: { at: string; note: string };
}

/** What the INCOMPLETE marker holds, so a recovery can write a faithful manifest. */
export interface IncompleteMarker {
  pid: number;
  name: string;
  start: string;
  command: string[];
  source: Manifest['source'];
}

/** `sha256sum -c` input for the files of a manifest. */
export function sha256sumLines(m: Manifest): string {
  return m.files.map((f) => `${f.sha256}  ${f.name}\n`).join('');
}

