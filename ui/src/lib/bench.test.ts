import { describe, expect, it, vi } from "vitest";
import { paintReporter } from "./bench";

describe("paintReporter", () => {
  it("reports after two animation frames, only once", () => {
    const frames: (() => void)[] = [];
    const send = vi.fn(() => Promise.resolve());
    const report = paintReporter((cb) => frames.push(cb), send);
    report("unlock");
    report("records");
    expect(send).not.toHaveBeenCalled();
    frames.shift()!();
    expect(send).not.toHaveBeenCalled();
    frames.shift()!();
    expect(send).toHaveBeenCalledExactlyOnceWith("unlock");
    expect(frames).toHaveLength(0);
  });

  it("swallows a failing shell call", async () => {
    const send = vi.fn(() => Promise.reject(new Error("no such command")));
    const report = paintReporter((cb) => cb(), send);
    expect(() => report("unlock")).not.toThrow();
    await Promise.resolve();
    expect(send).toHaveBeenCalledTimes(1);
  });
});
