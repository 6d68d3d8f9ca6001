import { describe, expect, it } from "vitest";
import { DEFAULTS, autoLockLabel, loadSettings, saveSettings, type KV } from "./settings";

function store(initial: Record<string, string> = {}): KV & { data: Record<string, string> } {
  const data = { ...initial };
  return { data, getItem: (k) => data[k] ?? null, setItem: (k, v) => void (data[k] = v) };
}

describe("settings", () => {
  it("defaults when nothing is stored or it is malformed", () => {
    expect(loadSettings(store())).toEqual(DEFAULTS);
    expect(loadSettings(store({ "trove.settings": "{not json" }))).toEqual(DEFAULTS);
    expect(loadSettings(store({ "trove.settings": '{"autoLockMinutes": 7, "theme": "pink"}' }))).toEqual(DEFAULTS);
  });
  it("round-trips what was saved", () => {
    const s = store();
    const saved = { autoLockMinutes: 0, theme: "dark" as const, sharing: true, listen: "127.0.0.1:9000", notifyReads: false };
    saveSettings(s, saved);
    expect(loadSettings(s)).toEqual(saved);
  });
  it("notifies about reads unless turned off", () => {
    expect(loadSettings(store({ "trove.settings": '{"sharing": true}' })).notifyReads).toBe(true);
    expect(loadSettings(store({ "trove.settings": '{"notifyReads": false}' })).notifyReads).toBe(false);
  });
  it("labels auto-lock choices", () => {
    expect([0, 1, 15].map(autoLockLabel)).toEqual(["Never", "1 minute", "15 minutes"]);
  });
});
