// The recovery key for reading: groups of four after the AGE-SECRET-KEY-1 prefix (as in
// the saved kit, trove-core's recovery_kit.rs), and the confirm step that asks for one
// group so the person shows they stored the key before the app moves on.

/** Characters per group (trove-core: recovery_kit::GROUP). */
export const GROUP = 4;
const PREFIX = "AGE-SECRET-KEY-1";

/** The groups of the key's body (everything after the prefix). */
export function keyGroups(key: string): string[] {
  const body = key.startsWith(PREFIX) ? key.slice(PREFIX.length) : key;
  const groups: string[] = [];
  for (let i = 0; i < body.length; i += GROUP) groups.push(body.slice(i, i + GROUP));
  return groups;
}

/** The key as shown on screen: the prefix, then its groups separated by spaces. */
export function groupedKey(key: string): string {
  return [PREFIX, ...keyGroups(key)].join(" ");
}

/** Which group to ask for: any whole group, picked by `random` (0 ≤ random < 1). */
export function pickGroup(key: string, random: number): number {
  const whole = keyGroups(key).filter((g) => g.length === GROUP).length;
  return Math.min(whole - 1, Math.floor(random * whole));
}

/** True when `typed` is group `index` (1-based in what the person reads: index + 1). */
export function groupMatches(key: string, index: number, typed: string): boolean {
  const want = keyGroups(key)[index];
  return !!want && typed.replace(/\s+/g, "").toUpperCase() === want;
}
