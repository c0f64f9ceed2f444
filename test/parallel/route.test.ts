// The dispatcher reads plain IPv4 TCP/UDP packets straight from their bytes
// (route.ts plainIpv4Hash); it must send each flow to the worker the decoding
// path sends it to, and leave every other packet to that path.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeIp, IpProto } from '../../src/dissect/decode/ip.js';
import { FragmentReassembler } from '../../src/dissect/decode/fragments.js';
import { ipHash, plainIpv4Hash, plainIpv4Offset } from '../../src/dissect/parallel/route.js';
import { EtherType, findNetwork } from '../../src/dissect/decode/link.js';
import { LinkType } from '../../src/model/packet.js';

/** An IPv4 header (no options) and `payload`, as a captured frame starting at the IP header. */
function ipv4(src: number, dst: number, protocol: number, payload: Buffer, flagsFrag = 0x4000): Buffer {
  const h = Buffer.alloc(20);
  h[0] = 0x45;
  h.writeUInt16BE(20 + payload.length, 2);
  h.writeUInt16BE(flagsFrag, 6);
  h[8] = 64;
  h[9] = protocol;
  h.writeUInt32BE(src >>> 0, 12);
  h.writeUInt32BE(dst >>> 0, 16);
  return Buffer.concat([h, payload]);
}

function ports(sport: number, dport: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  if (length >= 4) {
    b.writeUInt16BE(sport, 0);
    b.writeUInt16BE(dport, 2);
  }
  return b;
}

/** A deterministic pseudo-random sequence (the test repeats exactly). */
function* numbers(seed: number): Generator<number> {
  let x = seed;
  for (;;) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    yield x;
  }
}

test('plain IPv4 TCP and UDP: the byte path hashes exactly as the decoding path, both directions alike', () => {
  const rnd = numbers(7);
  const next = (): number => rnd.next().value as number;
  for (let i = 0; i < 5000; i++) {
    // Addresses with 1-, 2- and 3-digit octets; short payloads (no ports) too.
    const src = i % 3 === 0 ? next() & 0x0a09ff63 : next();
    const dst = next();
    const protocol = i % 2 === 0 ? IpProto.TCP : IpProto.UDP;
    const sport = next() & 0xffff;
    let dport = next() & 0xffff;
    // Tunnel ports are the decoding path's (the other test).
    if (protocol === IpProto.UDP && [4789, 8472, 6081].includes(dport)) dport = 53;
    const length = i % 50 === 0 ? 2 : protocol === IpProto.TCP ? 20 : 8;
    const frame = ipv4(src, dst, protocol, ports(sport, dport, length));
    const decoded = decodeIp(frame, 0, 4, new FragmentReassembler(), 0);
    assert.ok(decoded && !('skip' in decoded));
    const fast = plainIpv4Hash(frame, 0);
    assert.equal(fast, ipHash(decoded, 0), `packet ${i}`);
    const back = plainIpv4Hash(ipv4(dst, src, protocol, ports(dport, sport, length)), 0);
    assert.equal(back, fast, `packet ${i}: the reply goes to the same worker`);
  }
});

test('fragments, tunnels, other protocols and damaged headers are left to the decoding path', () => {
  const tcp = ports(1234, 80, 20);
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.TCP, tcp, 0x2000), 0), -1, 'more fragments');
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.TCP, tcp, 0x0010), 0), -1, 'a later fragment');
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.UDP, ports(1234, 4789, 30)), 0), -1, 'VXLAN');
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.UDP, ports(1234, 6081, 30)), 0), -1, 'Geneve');
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.ICMP, Buffer.alloc(36)), 0), -1, 'ICMP (an error quotes another flow)');
  assert.equal(plainIpv4Hash(ipv4(1, 2, IpProto.IPIP, Buffer.alloc(40)), 0), -1, 'IP in IP');
  const bad = ipv4(1, 2, IpProto.TCP, tcp);
  bad[0] = 0x44;
  assert.equal(plainIpv4Hash(bad, 0), -1, 'header length below 20');
  assert.equal(plainIpv4Hash(bad.subarray(0, 19), 0), -1, 'truncated');
});

test('an echo and its replies go to one worker by requester, also a broadcast ping answered from unicast addresses and a request cut before its id', () => {
  const hashOf = (frame: Buffer): number => {
    const ip = decodeIp(frame, 0, 4, new FragmentReassembler(), 0);
    assert.ok(ip && !('skip' in ip));
    return ipHash(ip, 0);
  };
  const echo = (type: number, id: number, seq: number): Buffer => {
    const b = Buffer.alloc(16);
    b[0] = type;
    b.writeUInt16BE(id, 4);
    b.writeUInt16BE(seq, 6);
    return b;
  };
  const requester = 0xc6120003;
  const broadcast = 0xc61200ff;
  const request = hashOf(ipv4(requester, broadcast, IpProto.ICMP, echo(8, 1292, 3)));
  for (const answering of [0xc6120005, 0xc6120009]) assert.equal(hashOf(ipv4(answering, requester, IpProto.ICMP, echo(0, 1292, 3))), request, 'a reply from a unicast address');
  assert.equal(hashOf(ipv4(requester, 0xc6120005, IpProto.ICMP, echo(8, 1292, 4))), request, 'the same ping to one host');
  // A snap length cut this request before its id: the tracker pairs it with the next reply from its target (icmp.ts).
  assert.equal(hashOf(ipv4(requester, 0xc6120005, IpProto.ICMP, echo(8, 1292, 5).subarray(0, 4))), request, 'a request cut before its id');
  // Other ICMP messages keep the address pair's hash (the same both ways).
  const timestamp = (from: number, to: number): number => hashOf(ipv4(from, to, IpProto.ICMP, echo(13, 1, 1)));
  assert.equal(timestamp(requester, 0xc6120005), timestamp(0xc6120005, requester));
});

test('where an IPv4 header starts: the number the dispatcher reads in place is findNetwork\'s offset, or -1 and findNetwork decides', () => {
  const rnd = numbers(11);
  const byte = (): number => (rnd.next().value as number) & 0xff;
  // Bytes that steer each link type's decoding (EtherTypes, VLAN tags, version nibbles) more often than chance would.
  const steering = [0x08, 0x00, 0x81, 0x00, 0x88, 0xa8, 0x91, 0x00, 0x86, 0xdd, 0x45, 0x60, 0x02, 0x00, 0x00, 0x00];
  const linkTypes = [LinkType.ETHERNET, LinkType.LINUX_SLL, LinkType.LINUX_SLL2, LinkType.RAW, LinkType.IPV4, LinkType.IPV6, 12, 14, LinkType.NULL, LinkType.LOOP, 239];
  let ipv4Found = 0;
  for (let i = 0; i < 40_000; i++) {
    const linkType = linkTypes[i % linkTypes.length];
    const frame = Buffer.alloc(byte() % 48);
    for (let k = 0; k < frame.length; k++) frame[k] = byte() < 160 ? steering[byte() % steering.length] : byte();
    const net = findNetwork(linkType, frame);
    const off = plainIpv4Offset(linkType, frame);
    if (off >= 0) {
      ipv4Found++;
      assert.deepEqual(net, { etherType: EtherType.IPV4, offset: off }, `link type ${linkType}, ${frame.toString('hex')}`);
    } else if (net?.etherType === EtherType.IPV4) {
      // Left to findNetwork: only link types the in-place read does not know (NULL, LOOP, NFLOG).
      assert.ok([LinkType.NULL, LinkType.LOOP, 239].includes(linkType), `link type ${linkType}, ${frame.toString('hex')}`);
    }
  }
  assert.ok(ipv4Found > 1000, `${ipv4Found} frames found IPv4`);
});
