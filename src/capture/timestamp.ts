// pcapng stores a timestamp as one 64-bit count of interface units (µs, ns,
// 2^-n s…) split into two 32-bit words. Converting to seconds + nanoseconds
// with plain doubles would lose digits above 2^53 (every ns timestamp after
// 1970 + 104 days), and BigInt per packet is slow, so the hot path divides in
// 16-bit limbs, which stays exact for resolutions up to 2^37 units/s; rarer
// resolutions fall back to BigInt.

const TWO16 = 65536;
const TWO32 = 4294967296;
const NS_PER_SEC = 1_000_000_000;
/** Largest units-per-second for which the limb arithmetic stays below 2^53. */
const LIMB_SAFE_UNITS = 2 ** 37;

/** A reusable result (no object per packet on the read path). */
export interface SecNsec {
  sec: number;
  nsec: number;
}

/** (high·2^32 + low) units → whole seconds and nanoseconds (truncated, like Wireshark). */
export function unitsToTime(high: number, low: number, unitsPerSec: number, out: SecNsec): SecNsec {
  const value = high * TWO32 + low;
  let sec: number;
  let rem: number;
  if (value <= Number.MAX_SAFE_INTEGER) {
    sec = Math.floor(value / unitsPerSec);
    rem = value - sec * unitsPerSec;
    if (rem < 0) {
      sec--;
      rem += unitsPerSec;
    } else if (rem >= unitsPerSec) {
      sec++;
      rem -= unitsPerSec;
    }
  } else if (unitsPerSec <= LIMB_SAFE_UNITS) {
    sec = 0;
    rem = 0;
    const limbs = [high >>> 16, high & 0xffff, low >>> 16, low & 0xffff];
    for (const limb of limbs) {
      const cur = rem * TWO16 + limb;
      let q = Math.floor(cur / unitsPerSec);
      let r = cur - q * unitsPerSec;
      if (r < 0) {
        q--;
        r += unitsPerSec;
      } else if (r >= unitsPerSec) {
        q++;
        r -= unitsPerSec;
      }
      sec = sec * TWO16 + q;
      rem = r;
    }
  } else {
    return unitsToTimeBig(high, low, unitsPerSec, out);
  }
  out.sec = sec;
  out.nsec = fractionToNsec(rem, unitsPerSec);
  return out;
}

function fractionToNsec(rem: number, unitsPerSec: number): number {
  if (unitsPerSec === NS_PER_SEC) return rem;
  if (unitsPerSec <= NS_PER_SEC && NS_PER_SEC % unitsPerSec === 0) return rem * (NS_PER_SEC / unitsPerSec);
  if (unitsPerSec > NS_PER_SEC && unitsPerSec % NS_PER_SEC === 0) return Math.floor(rem / (unitsPerSec / NS_PER_SEC));
  if (rem * NS_PER_SEC <= Number.MAX_SAFE_INTEGER) return Math.floor((rem * NS_PER_SEC) / unitsPerSec);
  return Number((BigInt(rem) * BigInt(NS_PER_SEC)) / BigInt(unitsPerSec));
}

function unitsToTimeBig(high: number, low: number, unitsPerSec: number, out: SecNsec): SecNsec {
  const value = (BigInt(high) << 32n) | BigInt(low);
  const units = BigInt(unitsPerSec);
  out.sec = Number(value / units);
  out.nsec = Number(((value % units) * BigInt(NS_PER_SEC)) / units);
  return out;
}

/** A reusable result for the write path. */
export interface HighLow {
  high: number;
  low: number;
}

/** Seconds + nanoseconds → (high, low) words of a count of units (sub-unit digits truncated). */
export function timeToUnits(sec: number, nsec: number, unitsPerSec: number, out: HighLow): HighLow {
  const frac =
    unitsPerSec === NS_PER_SEC
      ? nsec
      : unitsPerSec <= NS_PER_SEC && NS_PER_SEC % unitsPerSec === 0
        ? Math.floor(nsec / (NS_PER_SEC / unitsPerSec))
        : Number((BigInt(nsec) * BigInt(unitsPerSec)) / BigInt(NS_PER_SEC));
  const direct = sec * unitsPerSec + frac;
  if (direct <= Number.MAX_SAFE_INTEGER) {
    out.high = Math.floor(direct / TWO32);
    out.low = direct - out.high * TWO32;
    return out;
  }
  // value = sec·R + frac = (secHi·R)·2^16 + (secLo·R + frac), each part exact below 2^53.
  const secHi = Math.floor(sec / TWO16);
  const secLo = sec - secHi * TWO16;
  const a = secLo * unitsPerSec + frac;
  const b = secHi * unitsPerSec;
  if (unitsPerSec > LIMB_SAFE_UNITS || b > Number.MAX_SAFE_INTEGER / TWO16 || a > Number.MAX_SAFE_INTEGER / 2) {
    const value = BigInt(sec) * BigInt(unitsPerSec) + BigInt(frac);
    out.high = Number(value >> 32n);
    out.low = Number(value & 0xffffffffn);
    return out;
  }
  const bHigh = Math.floor(b / TWO16);
  const bLow = b - bHigh * TWO16;
  const c = bLow * TWO16 + a;
  const carry = Math.floor(c / TWO32);
  out.high = bHigh + carry;
  out.low = c - carry * TWO32;
  return out;
}
