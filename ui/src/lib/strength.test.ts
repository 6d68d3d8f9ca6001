import { describe, expect, it } from "vitest";
import { passphrasesMatch, strength } from "./strength";

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
