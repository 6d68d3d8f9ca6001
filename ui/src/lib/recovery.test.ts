import { describe, expect, it } from "vitest";
import { groupedKey, groupMatches, keyGroups, pickGroup } from "./recovery";

const KEY = "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQ";

describe("recovery key for reading", () => {
  it("groups the body in fours after the prefix, losing nothing", () => {
    const shown = groupedKey(KEY);
    expect(shown.startsWith("AGE-SECRET-KEY-1 QYQS ZQGP ")).toBe(true);
    expect(shown.replace(/ /g, "")).toBe(KEY);
    expect(keyGroups(KEY).every((g) => g.length <= 4)).toBe(true);
  });

  it("asks for a whole group and accepts it typed loosely", () => {
    for (const r of [0, 0.5, 0.999]) {
      const i = pickGroup(KEY, r);
      expect(keyGroups(KEY)[i]).toHaveLength(4);
    }
    const i = pickGroup(KEY, 0.3);
    const want = keyGroups(KEY)[i];
    expect(groupMatches(KEY, i, ` ${want.toLowerCase()} `)).toBe(true);
    expect(groupMatches(KEY, i, "XXXX")).toBe(false);
    expect(groupMatches(KEY, i, "")).toBe(false);
  });
});
