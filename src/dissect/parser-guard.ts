// A protocol parser that throws is a bug in it, not a reason to stop the
// run: the guard counts it (`<protocol>.parser_threw`) and the flow carries
// on without that parser. It also makes the flow's memory meter current
// around every call, so buffers a parser makes are charged to its flow.

import { enterMeter, type Meter } from './memory-budget.js';

/** Where a guard counts a parser's failure: the engine. */
interface Counts {
  count(name: string, n?: number): void;
}

/**
 * A parser that throws is a bug in it, not a reason to stop: count it and
 * carry on without that parser (the connection's later bytes are ignored).
 */
export function guarded<P extends object>(parser: P, name: string, engine: Counts, meter: Meter): P {
  // pendingSince is optional and its absence means something (engine.ts pendingTime): keep it absent.
  const methods = parser as ParserMethods;
  const guard = typeof methods.pendingSince === 'function' ? new GuardedPendingParser(methods, name, engine, meter) : new GuardedParser(methods, name, engine, meter);
  return guard as unknown as P;
}

type ParserMethods = Partial<Record<'onData' | 'onGap' | 'onFin' | 'onDatagram' | 'onTick' | 'onEnd' | 'pendingSince', (a?: unknown, b?: unknown) => unknown>>;

/**
 * The guard around one parser: one object, not a closure per method (a
 * flood of DNS conversations kept four closures and five scopes alive for
 * each). A method the parser lacks does nothing; a parser that threw is dead.
 */
class GuardedParser {
  private dead = false;

  constructor(
    protected readonly parser: ParserMethods,
    private readonly name: string,
    private readonly engine: Counts,
    private readonly meter: Meter,
  ) {}

  protected call(fn: ((a?: unknown, b?: unknown) => unknown) | undefined, a?: unknown, b?: unknown): unknown {
    if (this.dead || typeof fn !== 'function') return undefined;
    // Buffers the parser creates now are charged to its flow.
    const outer = enterMeter(this.meter);
    try {
      return fn.call(this.parser, a, b);
    } catch {
      // A dead parser emits nothing more, so it has nothing pending either.
      this.dead = true;
      this.engine.count(`${this.name}.parser_threw`);
      return undefined;
    } finally {
      enterMeter(outer);
    }
  }

  onData(dir: unknown, data: unknown): void {
    this.call(this.parser.onData, dir, data);
  }

  /** A UDP parser's own idle timeout (UdpDatagramParser.idleTimeoutMs), read through the guard. */
  get idleTimeoutMs(): number | undefined {
    return (this.parser as { idleTimeoutMs?: number }).idleTimeoutMs;
  }

  onGap(dir: unknown, length: unknown): void {
    this.call(this.parser.onGap, dir, length);
  }

  onFin(dir: unknown): void {
    this.call(this.parser.onFin, dir);
  }

  onDatagram(dir: unknown, payload: unknown): void {
    this.call(this.parser.onDatagram, dir, payload);
  }

  onTick(now: unknown, timeout: unknown): void {
    this.call(this.parser.onTick, now, timeout);
  }

  onEnd(reason: unknown): void {
    this.call(this.parser.onEnd, reason);
  }
}

class GuardedPendingParser extends GuardedParser {
  pendingSince(): number | undefined {
    return this.call(this.parser.pendingSince) as number | undefined;
  }
}
