// Waiting on a read that a stop (Ctrl-C, a consumer gone) must not wait for:
// a read from a silent pipe may never settle.

export const STOPPED = Symbol('stopped');

/**
 * `p`, or STOPPED as soon as `signal` fires: a run stopped while its read
 * waits on a silent pipe still ends, and hands back what it has. Not
 * Promise.race against one long-lived "stopped" promise: every race would
 * leave a reaction on it holding that call's result (a batch of entries), so
 * memory would grow with the input. The listener here lives for one call.
 */
export function unlessStopped<T>(p: Promise<T>, signal: AbortSignal): Promise<T | typeof STOPPED> {
  // `p` may still fail after a stop (its stream destroyed as the run ends): that failure is no news then, never unhandled.
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.resolve(STOPPED);
  }
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(STOPPED);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
