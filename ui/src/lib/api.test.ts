import { afterEach, describe, expect, it, vi } from "vitest";

// The shell, stubbed: each test says what `invoke` answers.
const invoke = vi.fn();
vi.mock("@tauri-apps/api/core", () => ({ invoke: (...a: unknown[]) => invoke(...a), Channel: class {} }));

const { api, isApiError, onVaultLocked, shownError, toApiError } = await import("./api");

const locked = { code: "locked", message: "the vault is locked", hint: "unlock it first", field: null };

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

describe("the one locked handler", () => {
  afterEach(() => invoke.mockReset());

  it("runs once per call that finds the vault locked, and the call still fails", async () => {
    const handler = vi.fn();
    const off = onVaultLocked(handler);
    invoke.mockRejectedValue(locked);
    await expect(api.counts()).rejects.toEqual(locked);
    await expect(api.listTrash()).rejects.toEqual(locked);
    expect(handler).toHaveBeenCalledTimes(2);
    off();
    await expect(api.counts()).rejects.toEqual(locked);
    expect(handler).toHaveBeenCalledTimes(2);
  });

  it("is not run for other errors, which screens show", async () => {
    const handler = vi.fn();
    const off = onVaultLocked(handler);
    const notFound = { code: "not_found", message: "no record X", hint: null, field: null };
    invoke.mockRejectedValue(notFound);
    const e = await api.getRecord("X").catch((x: unknown) => x);
    expect(handler).not.toHaveBeenCalled();
    expect(shownError(e)).toEqual(notFound);
    expect(shownError(locked)).toBeNull();
    off();
  });
});
