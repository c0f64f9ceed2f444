// Latency percentiles in bounded memory: a DDSketch-style log-bucket histogram
// (Masson et al., VLDB 2019). Every value lands in bucket ceil(log_γ(x)) with
// γ = (1+α)/(1-α), so any reported quantile is within a relative error α of
// the true value at that rank. With α = 1 % and values from 1 µs to 10⁹ ms the
// sketch never holds more than ~1 400 buckets, however many entries it sees.
// Count, sum, min and max are exact. The sum is kept in whole nanoseconds so
// that it does not depend on the order values are added in (floating-point
// addition does): sketches filled on several threads merge into exactly the
// one thread's.

/** Relative accuracy of every quantile the sketch reports. */
export const RELATIVE_ACCURACY = 0.01;
/** Values at or below this (ms) are counted as zero: 1 µs. */
const MIN_VALUE = 0.001;

const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);

/** A sketch as plain data (postMessage between threads). */
export interface SketchWire {
  count: number;
  sumNs: number;
  min: number;
  max: number;
  zeros: number;
  /** Bucket index and count, pairs. */
  buckets: number[];
}

export class LatencySketch {
  count = 0;
  /** Sum of the values, in whole nanoseconds (exact up to 2^53 ns, 104 days). */
  private sumNs = 0;
  min = Infinity;
  max = -Infinity;
  private zeros = 0;
  private readonly buckets = new Map<number, number>();

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.count++;
    this.sumNs += Math.round(ms * 1e6);
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
    if (ms <= MIN_VALUE) {
      this.zeros++;
      return;
    }
    const index = Math.ceil(Math.log(ms) / LOG_GAMMA);
    this.buckets.set(index, (this.buckets.get(index) ?? 0) + 1);
  }

  merge(other: LatencySketch): void {
    this.mergeWire(other.toWire());
  }

  toWire(): SketchWire {
    const buckets: number[] = [];
    for (const [index, n] of this.buckets) buckets.push(index, n);
    return { count: this.count, sumNs: this.sumNs, min: this.min, max: this.max, zeros: this.zeros, buckets };
  }

  mergeWire(other: SketchWire): void {
    this.count += other.count;
    this.sumNs += other.sumNs;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    this.zeros += other.zeros;
    const b = other.buckets;
    for (let i = 0; i + 1 < b.length; i += 2) this.buckets.set(b[i], (this.buckets.get(b[i]) ?? 0) + b[i + 1]);
  }

  /** Sum of the values (ms). */
  get sum(): number {
    return this.sumNs / 1e6;
  }

  /** Number of buckets held (for memory tests). */
  get size(): number {
    return this.buckets.size;
  }

  get mean(): number | null {
    return this.count === 0 ? null : this.sumNs / this.count / 1e6;
  }

  /**
   * The value of rank floor(q·(n−1)) in sorted order (0-based), within
   * RELATIVE_ACCURACY; clamped to [min, max] so p100 is the exact max. null when empty.
   */
  quantile(q: number): number | null {
    if (this.count === 0) return null;
    if (q >= 1) return this.max;
    if (q <= 0) return this.min;
    const rank = Math.floor(q * (this.count - 1));
    if (rank < this.zeros) return Math.max(0, this.min);
    let seen = this.zeros;
    const indexes = [...this.buckets.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      seen += this.buckets.get(index)!;
      if (seen > rank) {
        const estimate = (2 * Math.pow(GAMMA, index)) / (GAMMA + 1);
        return Math.min(this.max, Math.max(this.min, estimate));
      }
    }
    return this.max;
  }
}
