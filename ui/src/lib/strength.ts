// A passphrase strength hint: a rough estimate of guessing entropy from length and
// character variety, with penalties for repeats, sequences and very common choices.
// The same estimate and the same rule live in trove-core (passphrase_policy.rs), which
// refuses a weak new vault passphrase unless the person keeps it deliberately: change
// both together. `weakRule` lets a form say why before anything is sent.

export type StrengthLevel = 0 | 1 | 2 | 3 | 4;

export interface Strength {
  level: StrengthLevel;
  label: string;
  advice: string;
  bits: number;
}

const COMMON = [
  "password", "passwort", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
  "monkey", "dragon", "trove", "secret", "abc123", "111111", "sunshine", "princess",
];

const LABELS = ["Very weak", "Weak", "Fair", "Strong", "Very strong"] as const;

function poolSize(s: string): number {
  let pool = 0;
  if (/[a-z]/.test(s)) pool += 26;
  if (/[A-Z]/.test(s)) pool += 26;
  if (/[0-9]/.test(s)) pool += 10;
  if (/[^a-zA-Z0-9\s]/.test(s)) pool += 33;
  if (/\s/.test(s)) pool += 1;
  if (/[^\x00-\x7f]/.test(s)) pool += 50;
  return Math.max(pool, 1);
}

/** Characters that add little: repeats of the previous one or steps of a sequence. */
function predictable(s: string): number {
  let n = 0;
  for (let i = 1; i < s.length; i++) {
    const d = s.charCodeAt(i) - s.charCodeAt(i - 1);
    if (d === 0 || d === 1 || d === -1) n++;
  }
  return n;
}

/** Estimates how hard `passphrase` is to guess. */
export function strength(passphrase: string): Strength {
  if (passphrase.length === 0) {
    return { level: 0, label: LABELS[0], advice: "Choose a passphrase.", bits: 0 };
  }
  const lower = passphrase.toLowerCase();
  const effectiveLength = passphrase.length - predictable(passphrase) * 0.75;
  let bits = effectiveLength * Math.log2(poolSize(passphrase));
  if (COMMON.some((w) => lower.includes(w))) bits -= 25;
  const words = passphrase.trim().split(/[\s\-_.]+/).filter((w) => w.length >= 3);
  if (words.length >= 4) bits += 10;
  bits = Math.max(0, Math.round(bits));
  const level: StrengthLevel = bits < 28 ? 0 : bits < 40 ? 1 : bits < 56 ? 2 : bits < 72 ? 3 : 4;
  const advice =
    level >= 3
      ? "Good. Store it in a safe place too."
      : passphrase.length < 12
        ? "Use at least 12 characters; four or more unrelated words work well."
        : "Add another unrelated word, or mix in digits and symbols.";
  return { level, label: LABELS[level], advice, bits };
}

/** The two passphrase fields of a form agree and are not empty. */
export function passphrasesMatch(a: string, b: string): boolean {
  return a.length > 0 && a === b;
}

/** The shortest vault passphrase accepted without an override (trove-core: MIN_CHARS). */
export const MIN_CHARS = 10;
/** The least estimated entropy accepted without an override (trove-core: MIN_BITS). */
export const MIN_BITS = 40;

/** Why trove-core would refuse `passphrase` as a new vault passphrase, or null. */
export function weakRule(passphrase: string): string | null {
  const chars = [...passphrase].length;
  if (chars === 0) return null;
  if (chars < MIN_CHARS) return `it has ${chars} characters; at least ${MIN_CHARS} are needed`;
  const lower = passphrase.toLowerCase();
  const bits = strength(passphrase).bits;
  const common = COMMON.filter((w) => lower.includes(w));
  if (common.some((w) => [...lower].length - w.length < MIN_CHARS) || (common.length > 0 && bits < MIN_BITS)) {
    return "it contains a very common password";
  }
  if (bits < MIN_BITS) return `it is easy to guess (about ${bits} bits; at least ${MIN_BITS} are needed)`;
  return null;
}
