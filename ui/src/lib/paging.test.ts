import { describe, expect, it } from "vitest";
import { moreLabel, PAGE } from "./paging";

describe("moreLabel", () => {
  it("is null when everything is shown", () => {
    expect(moreLabel(PAGE, 10)).toBeNull();
    expect(moreLabel(200, 200)).toBeNull();
  });
  it("offers a full page, or what is left", () => {
    expect(moreLabel(200, 10000, 200)).toBe(`Show 200 more (200 of ${(10000).toLocaleString()} shown)`);
    expect(moreLabel(200, 250, 200)).toBe("Show 50 more (200 of 250 shown)");
  });
});
