// Search as you type sends a request per keystroke, and answers can arrive out of order:
// the answer to "an" may come after the answer to "anna". Only the newest request's
// answer may land on the screen.

/** The answer of a guarded call: its value, or `stale` when a newer call was made since. */
export type Answer<T> = { stale: false; value: T } | { stale: true };

/**
 * Wraps `fn` so that each call's answer says whether a newer call was started meanwhile.
 * A stale answer must be dropped: it would replace the newer one's result. A stale call's
 * failure is stale too (it resolves as `stale` instead of rejecting).
 */
export function latestOnly<A extends unknown[], T>(fn: (...args: A) => Promise<T>): (...args: A) => Promise<Answer<T>> {
  let newest = 0;
  return async (...args: A) => {
    const mine = ++newest;
    try {
      const value = await fn(...args);
      return mine === newest ? { stale: false, value } : { stale: true };
    } catch (e) {
      if (mine !== newest) return { stale: true };
      throw e;
    }
  };
}
