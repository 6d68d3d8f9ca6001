import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { localTime } from "./time";

describe("localTime", () => {
  beforeEach(() => {
    vi.stubEnv("TZ", "Europe/Berlin");
  });
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("shows a UTC time in the local zone, with seconds only on request", () => {
    // 10:00:05 UTC is 11:00:05 in Berlin in November (CET, UTC+1).
    const short = localTime("2026-11-23T10:00:05Z");
    expect(short).toContain("2026");
    expect(short).toContain("23");
    expect(short).toContain("11:00");
    expect(short).not.toContain("10:00");
    expect(short).not.toContain(":05");
    expect(localTime("2026-11-23T10:00:05Z", true)).toContain("11:00:05");
    // Summer time: 10:00 UTC is 12:00 in Berlin in July (CEST, UTC+2).
    expect(localTime("2026-07-01T10:00:00.000Z")).toContain("12:00");
  });

  it("returns anything unparsable unchanged", () => {
    expect(localTime("not a time")).toBe("not a time");
  });
});
