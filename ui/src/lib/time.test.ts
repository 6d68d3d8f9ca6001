import { describe, expect, it } from "vitest";
import { localTime } from "./time";

describe("localTime", () => {
  it("formats a valid time in local time, with seconds on request", () => {
    const t = "2026-11-23T10:00:05Z";
    const d = new Date(t);
    expect(localTime(t)).toBe(d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    expect(localTime(t, true)).toBe(d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" }));
  });
  it("returns anything unparsable unchanged", () => {
    expect(localTime("not a time")).toBe("not a time");
  });
});
