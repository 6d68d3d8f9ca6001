import { describe, expect, it } from "vitest";
import { applyTheme, resolveTheme } from "./theme";

/** A stand-in for matchMedia's answer that the test can flip. */
function fakeMedia(matches: boolean) {
  const listeners = new Set<() => void>();
  const media = {
    matches,
    addEventListener: (_: string, f: () => void) => listeners.add(f),
    removeEventListener: (_: string, f: () => void) => listeners.delete(f),
  };
  const flip = (m: boolean) => {
    media.matches = m;
    for (const f of listeners) f();
  };
  return { media: media as unknown as MediaQueryList, flip, listeners };
}

/** Just enough of an element for setAttribute. */
function fakeRoot() {
  const attrs: Record<string, string> = {};
  return { el: { setAttribute: (k: string, v: string) => (attrs[k] = v) } as unknown as HTMLElement, attrs };
}

describe("resolveTheme", () => {
  it("follows the system only for “system”", () => {
    expect(resolveTheme("system", true)).toBe("dark");
    expect(resolveTheme("system", false)).toBe("light");
    expect(resolveTheme("light", true)).toBe("light");
    expect(resolveTheme("dark", false)).toBe("dark");
  });
});

describe("applyTheme", () => {
  it("always names a palette, and “system” follows a change of the system's preference", () => {
    const { media, flip, listeners } = fakeMedia(false);
    const { el, attrs } = fakeRoot();
    const stop = applyTheme("system", el, media);
    expect(attrs["data-theme"]).toBe("light");
    flip(true);
    expect(attrs["data-theme"]).toBe("dark");
    stop();
    expect(listeners.size).toBe(0);
  });

  it("a forced choice ignores the system", () => {
    const { media, flip, listeners } = fakeMedia(true);
    const { el, attrs } = fakeRoot();
    applyTheme("light", el, media);
    expect(attrs["data-theme"]).toBe("light");
    flip(false);
    expect(attrs["data-theme"]).toBe("light");
    expect(listeners.size).toBe(0);
  });
});
