import { describe, expect, it } from "vitest";
import { latestOnly } from "./latest";

/** A call whose answer the test releases by hand, in any order. */
function deferred() {
  const pending = new Map<string, (v: string) => void>();
  const fn = (q: string) => new Promise<string>((resolve) => pending.set(q, resolve));
  return { fn, answer: (q: string) => pending.get(q)?.(`results for ${q}`) };
}

describe("latestOnly", () => {
  it("drops the answer to an older query that arrives after a newer one", async () => {
    const { fn, answer } = deferred();
    const search = latestOnly(fn);
    const older = search("an");
    const newer = search("anna");
    answer("anna");
    answer("an");
    expect(await newer).toEqual({ stale: false, value: "results for anna" });
    expect(await older).toEqual({ stale: true });
  });

  it("drops an older answer that arrives first, too: a newer query is on its way", async () => {
    const { fn, answer } = deferred();
    const search = latestOnly(fn);
    const older = search("an");
    answer("an");
    const newer = search("anna");
    expect(await older).toEqual({ stale: true });
    answer("anna");
    expect(await newer).toEqual({ stale: false, value: "results for anna" });
  });

  it("keeps every answer of calls made one after the other", async () => {
    const search = latestOnly(async (q: string) => q.length);
    expect(await search("a")).toEqual({ stale: false, value: 1 });
    expect(await search("ab")).toEqual({ stale: false, value: 2 });
  });

  it("passes the newest call's failure through and drops a stale one's", async () => {
    const fail = new Map<string, (e: Error) => void>();
    const search = latestOnly((q: string) => new Promise<string>((_, reject) => fail.set(q, reject)));
    const older = search("an");
    const newer = search("anna");
    fail.get("an")?.(new Error("no an"));
    fail.get("anna")?.(new Error("no anna"));
    expect(await older).toEqual({ stale: true });
    await expect(newer).rejects.toThrow("no anna");
  });
});
