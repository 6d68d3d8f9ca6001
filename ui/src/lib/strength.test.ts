import { describe, expect, it } from "vitest";
import { passphrasesMatch, strength, weakRule } from "./strength";

describe("strength", () => {
  it("rates the empty passphrase as very weak and asks for one", () => {
    expect(strength("")).toMatchObject({ level: 0, advice: "Choose a passphrase." });
  });

  it("rates short, common and repetitive passphrases low", () => {
    expect(strength("password1").level).toBeLessThanOrEqual(1);
    expect(strength("aaaaaaaaaaaa").level).toBeLessThanOrEqual(1);
    expect(strength("abcdefgh").level).toBeLessThanOrEqual(1);
    expect(strength("Tr0ve!").level).toBeLessThanOrEqual(1);
  });

  it("rates long multi-word passphrases strong", () => {
    expect(strength("correct horse battery staple").level).toBeGreaterThanOrEqual(3);
    expect(strength("violet-tram-Oslo-49-cedar!").level).toBe(4);
  });

  it("grows with length and never goes down when a random word is appended", () => {
    const a = strength("maple river");
    const b = strength("maple river quartz");
    expect(b.bits).toBeGreaterThan(a.bits);
    expect(b.level).toBeGreaterThanOrEqual(a.level);
  });

  it("gives length advice to short passphrases", () => {
    expect(strength("x7#k").advice).toMatch(/12 characters/);
  });
});

describe("passphrasesMatch", () => {
  it("needs equal, non-empty passphrases", () => {
    expect(passphrasesMatch("a b", "a b")).toBe(true);
    expect(passphrasesMatch("a b", "a b ")).toBe(false);
    expect(passphrasesMatch("", "")).toBe(false);
  });
});

describe("weakRule (the vault's rule, as trove-core applies it)", () => {
  it("names the rule a weak passphrase breaks", () => {
    expect(weakRule("password1")).toMatch(/9 characters; at least 10/);
    expect(weakRule("password123")).toMatch(/common/);
    expect(weakRule("Qwerty2024!")).toMatch(/common/);
    expect(weakRule("aaaaaaaaaaaa")).toMatch(/easy to guess/);
  });

  it("accepts what trove-core accepts", () => {
    for (const p of ["correct horse battery staple", "snapshot passphrase", "Tr0ub4dor&3xyz", "violet tram Oslo cedar 49"]) {
      expect(weakRule(p)).toBeNull();
    }
    expect(weakRule("")).toBeNull();
  });
});
