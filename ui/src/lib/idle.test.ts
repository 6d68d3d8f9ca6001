import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { idleTimer } from "./idle";

describe("idleTimer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("fires once after the idle time, and activity postpones it", () => {
    const onIdle = vi.fn();
    const t = idleTimer(5, onIdle);
    vi.advanceTimersByTime(4 * 60_000);
    t.poke();
    vi.advanceTimersByTime(4 * 60_000);
    expect(onIdle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    t.poke();
    vi.advanceTimersByTime(60 * 60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it("0 minutes never locks; stop cancels; a new delay applies at once", () => {
    const onIdle = vi.fn();
    const t = idleTimer(0, onIdle);
    vi.advanceTimersByTime(24 * 60 * 60_000);
    expect(onIdle).not.toHaveBeenCalled();
    t.setMinutes(1);
    vi.advanceTimersByTime(60_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
    const s = idleTimer(1, onIdle);
    s.stop();
    vi.advanceTimersByTime(120_000);
    expect(onIdle).toHaveBeenCalledTimes(1);
  });
});
