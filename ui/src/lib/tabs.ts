// Keyboard movement in a tab list (the ARIA tabs pattern): Left and Right move to the
// previous and next tab, wrapping around; Home and End to the first and last.

/** The tab `key` moves to from `current`, or null for a key that does not move. */
export function nextTab<T>(tabs: readonly T[], current: T, key: string): T | null {
  const i = tabs.indexOf(current);
  const n = tabs.length;
  if (n === 0) return null;
  switch (key) {
    case "ArrowRight":
      return tabs[(i + 1) % n];
    case "ArrowLeft":
      return tabs[(i - 1 + n) % n];
    case "Home":
      return tabs[0];
    case "End":
      return tabs[n - 1];
    default:
      return null;
  }
}
