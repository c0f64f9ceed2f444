// Link types beyond Ethernet: a real lab capture as a Wi-Fi adapter in monitor
// mode records it (802.11 bare, behind radiotap, PPI, Prism and AVS headers),
// behind the capture headers of macOS (PKTAP), BSD (pflog, enc), Solaris
// (ipnet), Endace (ERF) and netANALYZER, and on Frame Relay, ATM, FDDI, Token
// Ring, 802.3 with LLC/SNAP and PPPoE links, gives exactly the entries of the
// capture itself; tshark decodes each file to the same conversations (so the
// headers written are what real capture tools write).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dissectFile } from '../helpers/dissect.js';
import { dissectBytes, workerPool } from '../helpers/dissect-bytes.js';
import { repoRoot } from '../helpers/paths.js';
import { readEthernetPcap, wrapFrame, wrappedPcap, type LinkKind } from '../helpers/tunnel-wrap.js';
import { findNetwork, dissectsLinkType } from '../../src/dissect/decode/link.js';

const lab = join(repoRoot, 'examples', 'bookinfo-mix.pcap');
const KINDS: Array<[LinkKind, number]> = [
  ['wifi', 105], ['wifi-radiotap', 127], ['wifi-ppi', 192], ['wifi-prism', 119], ['wifi-avs', 163],
  ['pktap', 258], ['pflog', 117], ['enc', 109], ['ipnet', 226], ['netanalyzer', 240], ['erf', 197], ['erf-extension', 197], ['erf-pos', 197],
  ['frame-relay', 107], ['frame-relay-cisco', 107], ['atm-rfc1483', 11], ['fddi', 10], ['token-ring', 6], ['llc-8023', 1], ['ppp-ether', 51],
];

/** tshark's TCP and UDP conversations: endpoints and frames each way. */
function conversations(path: string): string[] {
  const rows: string[] = [];
  // One tshark run prints both tables (its start-up is most of its time here), each under its title.
  const out = execFileSync('tshark', ['-r', path, '-q', '-z', 'conv,tcp', '-z', 'conv,udp'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  let kind = '';
  for (const line of out.split('\n')) {
    const title = /^(TCP|UDP) Conversations$/.exec(line.trim());
    if (title) kind = title[1].toLowerCase();
    if (!line.includes('<->')) continue;
    assert.ok(kind, `${path}: a conversation before any table title`);
    const f = line.trim().split(/\s+/);
    rows.push(`${kind} ${f[0]} ${f[2]} ${f[3]} ${f[5]}`);
  }
  return rows.sort();
}

test('traffic captured on other links and behind capture headers gives the entries of the traffic itself', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-links-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const base = await dissectFile(lab);
  assert.equal(base.error, undefined);
  assert.ok(base.entries.length > 100);
  const baseEntries = JSON.stringify(base.entries);
  const baseConversations = conversations(lab);
  assert.ok(baseConversations.filter((c) => c.startsWith('tcp')).length > 20 && baseConversations.some((c) => c.startsWith('udp')));
  for (const [kind, linkType] of KINDS) {
    const path = join(dir, `${kind}.pcap`);
    const bytes = wrappedPcap(lab, kind);
    assert.equal(bytes.readUInt32LE(20), linkType, kind);
    writeFileSync(path, bytes);
    assert.deepEqual(conversations(path), baseConversations, `${kind}: tshark reads other traffic (the helper's headers are wrong)`);
    assert.ok(dissectsLinkType(linkType), kind);
    const { entries, error } = await dissectFile(path);
    assert.equal(error, undefined, kind);
    assert.equal(JSON.stringify(entries), baseEntries, `${kind}: entries differ from the traffic's own`);
  }
  // With two workers (the command's runDissect, in this process: no CLI start per file): the
  // dispatcher finds the same flows behind the same headers.
  const pool = await workerPool(2);
  try {
    for (const kind of ['wifi-radiotap', 'pktap', 'erf-extension', 'token-ring']) {
      const one = await dissectBytes(join(dir, `${kind}.pcap`), undefined, 1);
      const two = await dissectBytes(join(dir, `${kind}.pcap`), undefined, 2, pool);
      assert.equal(one.error, undefined, kind);
      assert.deepEqual(one.said, [], `${kind}: nothing said on stderr`);
      assert.ok(one.out.split('\n').length > 100, kind);
      assert.equal(two.error, undefined, kind);
      assert.equal(two.counters, one.counters, kind);
      assert.equal(two.out, one.out, `${kind}: --workers 2 differs from --workers 1`);
    }
  } finally {
    await pool.close();
  }
});

test('Wi-Fi frames that hold no readable IP are not read as IP', () => {
  const frame = readEthernetPcap(lab)[3]!.frame;
  const data = wrapFrame('wifi', frame, 0);
  assert.ok(findNetwork(105, data), 'the plain data frame is read');
  const variant = (control: number, flags: number, extra: Buffer = Buffer.alloc(0)): Buffer => {
    const b = Buffer.from(data);
    b[0] = control;
    b[1] = flags;
    return Buffer.concat([b.subarray(0, 24), extra, b.subarray(24)]);
  };
  assert.equal(findNetwork(105, variant(0x08, 0x41)), null, 'protected (encrypted) data');
  assert.equal(findNetwork(105, variant(0x48, 0x01)), null, 'null data');
  assert.equal(findNetwork(105, variant(0x80, 0x00)), null, 'a beacon (management)');
  assert.equal(findNetwork(105, variant(0xd4, 0x00)), null, 'an ACK (control)');
  assert.equal(findNetwork(105, variant(0x88, 0x01, Buffer.from([0x80, 0x00]))), null, 'an A-MSDU');
  assert.ok(findNetwork(105, variant(0x88, 0x01, Buffer.from([0x00, 0x00]))), 'QoS data is read');
});

test('link headers cut anywhere, or nested past the limit, are never a crash', () => {
  const frames = readEthernetPcap(lab).slice(0, 6);
  for (const [kind, linkType] of KINDS) {
    for (const [i, r] of frames.entries()) {
      const frame = wrapFrame(kind, r.frame, i);
      for (let cut = 0; cut <= Math.min(frame.length, 260); cut++) {
        const net = findNetwork(linkType, frame.subarray(0, cut));
        if (net) assert.ok(net.offset <= cut, `${kind} cut at ${cut}: offset ${net.offset} past the frame`);
      }
    }
  }
  // PKTAP naming PKTAP naming PKTAP…, and PPI naming PPI: given up on after a few, not followed.
  const pktap = (inner: Buffer): Buffer => {
    const h = Buffer.alloc(108);
    h.writeUInt32LE(108, 0);
    h.writeUInt32LE(1, 4);
    h.writeUInt32LE(258, 8);
    return Buffer.concat([h, inner]);
  };
  let nested: Buffer = Buffer.from([0x45, ...Buffer.alloc(19)]);
  for (let i = 0; i < 50; i++) nested = pktap(nested);
  assert.equal(findNetwork(258, nested), null);
  const ppi = Buffer.concat([...Array.from({ length: 1000 }, () => Buffer.from([0, 0, 8, 0, 192, 0, 0, 0])), Buffer.from([0x45])]);
  assert.equal(findNetwork(192, ppi), null);
  // Lengths that point past the frame, and radiotap's present words running past its header.
  assert.equal(findNetwork(258, Buffer.from([0xff, 0xff, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0])), null);
  assert.equal(findNetwork(127, Buffer.from([0, 0, 12, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), null);
  assert.equal(findNetwork(197, Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0x82, 0]), Buffer.alloc(6), Buffer.alloc(200, 0x80)])), null);
});
