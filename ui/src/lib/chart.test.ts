import { describe, expect, it } from "vitest";
import { countsToData, layoutBars, niceMax } from "./chart";

describe("niceMax", () => {
  it("rounds up to 1, 2 or 5 times a power of ten", () => {
    expect([0, 1, 3, 7, 10, 11, 40, 51, 999].map(niceMax)).toEqual([1, 1, 5, 10, 10, 20, 50, 100, 1000]);
  });
});

describe("layoutBars", () => {
  it("sorts largest first, drops zeros and scales to the width", () => {
    const l = layoutBars(
      [
        { key: "a", label: "A", value: 5 },
        { key: "b", label: "B", value: 10 },
        { key: "z", label: "Z", value: 0 },
        { key: "c", label: "C", value: 5 },
      ],
      200,
      20,
    );
    expect(l.max).toBe(10);
    expect(l.bars.map((b) => [b.key, b.y, b.width])).toEqual([
      ["b", 0, 200],
      ["a", 20, 100],
      ["c", 40, 100],
    ]);
    expect(l.height).toBe(60);
  });
  it("keeps tiny values visible", () => {
    const l = layoutBars([{ key: "a", label: "A", value: 1 }, { key: "b", label: "B", value: 1000 }], 100);
    expect(l.bars[1].width).toBe(2);
  });
  it("handles no data", () => {
    expect(layoutBars([], 100)).toEqual({ bars: [], max: 1, height: 0 });
  });
});

describe("countsToData", () => {
  it("titles counts in type order and skips empty types", () => {
    const types = [{ name: "identity", title: "Identity" }, { name: "note", title: "Note" }, { name: "contact", title: "Contact" }];
    expect(countsToData({ note: 2, contact: 3 }, types)).toEqual([
      { key: "note", label: "Note", value: 2 },
      { key: "contact", label: "Contact", value: 3 },
    ]);
  });
});
