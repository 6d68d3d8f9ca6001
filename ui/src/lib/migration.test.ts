import { describe, expect, it } from "vitest";
import { migrationNotice } from "./migration";

describe("migrationNotice", () => {
  it("says nothing when nothing was moved", () => {
    expect(migrationNotice(null)).toBe("");
    expect(migrationNotice(0)).toBe("");
  });
  it("counts the moved records and says what to do if one was the owner's own card", () => {
    expect(migrationNotice(1)).toMatch(/^1 record that .* was moved to people you know/);
    const many = migrationNotice(12345);
    expect(many).toMatch(/^12,345 records that .* were moved/);
    expect(many).toContain("This is my own card");
  });
});
