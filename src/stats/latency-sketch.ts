// Latency percentiles in bounded memory: a DDSketch-style log-bucket histogram
// (Masson et al., VLDB 2019). Every value lands in bucket ceil(log_γ(x)) with
// γ = (1+α)/(1-α), so any reported quantile is within a relative error α of
// the true value at that rank. With α = 1 % and values from 1 µs to 10⁹ ms the
// sketch never holds more than ~1 400 buckets, however many entries it sees.
// Count, sum, min and max are exact.

/** Relative accuracy of every quantile the sketch reports. */
export const RELATIVE_ACCURACY = 0.01;
/** Values at or below this (ms) are counted as zero: 1 µs. */
const MIN_VALUE = 0.001;

const GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);

export class LatencySketch {
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  private zeros = 0;
  private readonly buckets = new Map<number, number>();

  add(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.count++;
    this.sum += ms;
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
    this.count += other.count;
    this.sum += other.sum;
    this.min = Math.min(this.min, other.min);
    this.max = Math.max(this.max, other.max);
    this.zeros += other.zeros;
    for (const [index, n] of other.buckets) this.buckets.set(index, (this.buckets.get(index) ?? 0) + n);
  }

  /** Number of buckets held (for memory tests). */
  get size(): number {
    return this.buckets.size;
  }

  get mean(): number | null {
    return this.count === 0 ? null : this.sum / this.count;
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
