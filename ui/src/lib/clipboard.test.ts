import { describe, expect, it } from "vitest";
import { CLEAR_AFTER_MS, copySecret, type ClipboardLike } from "./clipboard";

function fakeClipboard(): ClipboardLike & { text: string } {
  const c = {
    text: "",
    async writeText(t: string) {
      c.text = t;
    },
    async readText() {
      return c.text;
    },
  };
  return c;
}

describe("copySecret", () => {
  it("copies and clears after 30 s if the secret is still there", async () => {
    const cb = fakeClipboard();
    let later: (() => Promise<void>) | undefined;
    let delay = 0;
    expect(await copySecret("s3cret", cb, (f, ms) => ((later = f as () => Promise<void>), (delay = ms)))).toBe(true);
    expect(cb.text).toBe("s3cret");
    expect(delay).toBe(CLEAR_AFTER_MS);
    await later!();
    expect(cb.text).toBe("");
  });

  it("leaves the clipboard alone when the person copied something else", async () => {
    const cb = fakeClipboard();
    let later: (() => Promise<void>) | undefined;
    await copySecret("s3cret", cb, (f) => (later = f as () => Promise<void>));
    cb.text = "my own text";
    await later!();
    expect(cb.text).toBe("my own text");
  });

  it("reports failure when there is no clipboard or writing fails", async () => {
    expect(await copySecret("x", undefined)).toBe(false);
    const broken = { writeText: () => Promise.reject(new Error("denied")), readText: () => Promise.resolve("") };
    expect(await copySecret("x", broken, () => 0)).toBe(false);
  });
});
