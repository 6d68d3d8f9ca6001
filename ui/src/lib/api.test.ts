import { describe, expect, it } from "vitest";
import { isApiError, toApiError } from "./api";

describe("toApiError", () => {
  it("keeps errors from the shell as they are", () => {
    const e = { code: "wrong_passphrase", message: "wrong passphrase", hint: "check it", field: null };
    expect(toApiError(e)).toBe(e);
    expect(isApiError(e)).toBe(true);
  });
  it("wraps anything else as an internal error", () => {
    expect(toApiError("command foo not found")).toEqual({ code: "internal", message: "command foo not found", hint: null, field: null });
    expect(toApiError(new Error("boom")).code).toBe("internal");
    expect(isApiError(null)).toBe(false);
  });
});
