// UDP GSO batches (generic segmentation offload, the UDP_SEGMENT socket
// option). A sender hands the kernel one buffer of several QUIC packets, and
// the kernel cuts it into datagrams of one size (the last may be shorter).
// quic-go, ngtcp2, quiche, msquic and nginx send this way on Linux. A capture
// taken before the cut (on the sender's own host, or on its pod's veth) shows
// one datagram holding the whole batch. A short-header packet runs to its
// datagram's end, so the batch's first packet cannot be opened whole. The
// batch is cut again from what every packet in it repeats: the Destination
// Connection ID, found every `size` bytes from the datagram's start.

/**
 * Segment sizes looked for, up to a 9000-byte MTU's. Not from QUIC's smallest
 * full datagram (1,200 bytes, RFC 9000 §14): ngtcp2 was seen cutting a batch
 * into 1,170-byte datagrams, and the connection id decides anyway.
 */
export const GSO_MIN_SEGMENT = 64;
export const GSO_MAX_SEGMENT = 8952;
/** Sizes tried per datagram at most: a connection id of a byte or two can repeat by chance. */
export const GSO_MAX_SIZES = 8;

/**
 * Sizes at which `datagram` may be a GSO batch: every `size` bytes from its
 * start, a packet to `dcid` begins (a short header, or a long header with a
 * non-zero version). `first` is where the batch's first short-header packet
 * starts (long-header packets may come before it in the first segment).
 * `preferred` sizes (the size this direction was cut at before, the largest
 * datagram it sent whole) come first, then, when `search`, the rest from the
 * smallest.
 */
export function gsoSegmentSizes(datagram: Buffer, first: number, dcid: Buffer, preferred: Array<number | undefined>, search: boolean): number[] {
  const sizes: number[] = [];
  const fits = (size: number): boolean => size > first && size < datagram.length && size >= GSO_MIN_SEGMENT && size <= GSO_MAX_SEGMENT && batchOf(datagram, size, dcid);
  for (const size of preferred) if (size !== undefined && !sizes.includes(size) && fits(size)) sizes.push(size);
  if (!search) return sizes;
  const last = Math.min(GSO_MAX_SEGMENT, datagram.length - 1);
  for (let size = Math.max(GSO_MIN_SEGMENT, first + 1); size <= last && sizes.length < GSO_MAX_SIZES; size++) {
    if (!sizes.includes(size) && batchOf(datagram, size, dcid)) sizes.push(size);
  }
  return sizes.slice(0, GSO_MAX_SIZES);
}

/** Whether a packet to `dcid` starts at every multiple of `size` in `datagram` past the first. */
function batchOf(datagram: Buffer, size: number, dcid: Buffer): boolean {
  const n = dcid.length;
  for (let at = size; at < datagram.length; at += size) {
    const b = datagram[at];
    if ((b & 0x80) === 0) {
      if (at + 1 + n > datagram.length || datagram.compare(dcid, 0, n, at + 1, at + 1 + n) !== 0) return false;
    } else {
      if (at + 6 + n > datagram.length || datagram.readUInt32BE(at + 1) === 0 || datagram[at + 5] !== n) return false;
      if (datagram.compare(dcid, 0, n, at + 6, at + 6 + n) !== 0) return false;
    }
  }
  return true;
}
