import { describe, expect, it } from "vitest";
import { nextTab } from "./tabs";

describe("nextTab", () => {
  const tabs = ["export", "import", "third"] as const;
  it("moves right and left, wrapping around at either end", () => {
    expect(nextTab(tabs, "export", "ArrowRight")).toBe("import");
    expect(nextTab(tabs, "third", "ArrowRight")).toBe("export");
    expect(nextTab(tabs, "import", "ArrowLeft")).toBe("export");
    expect(nextTab(tabs, "export", "ArrowLeft")).toBe("third");
  });
  it("jumps to the first and last with Home and End", () => {
    expect(nextTab(tabs, "import", "Home")).toBe("export");
    expect(nextTab(tabs, "import", "End")).toBe("third");
  });
  it("ignores other keys", () => {
    expect(nextTab(tabs, "import", "ArrowDown")).toBeNull();
    expect(nextTab(tabs, "import", "Enter")).toBeNull();
  });
});
