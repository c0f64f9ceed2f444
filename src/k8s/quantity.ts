// Kubernetes resource quantities (apimachinery's resource.Quantity: `512Mi`,
// `1Gi`, `1.5G`, `500m`, `2`, `1e9`), as kubectl reads `--limits=memory=1Gi`,
// for --agent-memory and --agent-cpu. A value the API server would refuse is a
// usage error here (exit 2), before anything is deployed: refused there, it
// would fail the DaemonSet's creation after the run began.

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = { m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18 };

// <sign><digits>[.<digits>]<suffix>, the grammar of resource.ParseQuantity. Each
// part starts with a character the one before cannot take, so matching is linear.
const QUANTITY = /^\+?(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d{1,3})?$/;

/** The amount a quantity stands for (bytes for memory, cores for CPU), or undefined when it is not one. */
export function parseQuantity(s: string): number | undefined {
  // A quantity is short; a long one is a mistake (and the regex never sees attacker-sized input).
  if (s.length > 40) return undefined;
  const m = QUANTITY.exec(s);
  if (!m) return undefined;
  const suffix = m[2] ?? '';
  const scale = BINARY[suffix] ?? DECIMAL[suffix] ?? 10 ** Number(suffix.slice(1));
  return Number(m[1]) * scale;
}

/** Twice a memory amount, in the largest of Gi or Mi that holds it whole (512Mi → 1Gi, 1500M → 2862Mi). */
export function doubledMemory(bytes: number): string {
  const mi = Math.ceil((bytes * 2) / BINARY.Mi);
  return mi % 1024 === 0 ? `${mi / 1024}Gi` : `${mi}Mi`;
}
