//! The passphrase rule for new vault passphrases (`init`, `passwd`, `recover`, and the
//! app's create / change / recover forms): long enough and not easily guessed, unless
//! the person deliberately keeps a weak one. Pure: no vault, no I/O.
//!
//! The estimate is the one the app shows while typing (`ui/src/lib/strength.ts`): bits
//! from length and character variety, less for repeats and sequences, and 25 bits less
//! when a very common password is inside; change both together. On top of it, a very
//! common password padded with a few characters (`Qwerty2024!`) is refused as common.

pub use crate::error::Weakness;
use crate::error::{Error, Result};
use crate::secret::Passphrase;

/// The shortest passphrase accepted without an override, in characters.
pub const MIN_CHARS: usize = 10;
/// The least estimated guessing entropy accepted without an override, in bits.
pub const MIN_BITS: u32 = 40;

const COMMON: &[&str] = &[
    "password", "passwort", "123456", "qwerty", "letmein", "welcome", "iloveyou", "admin",
    "monkey", "dragon", "trove", "secret", "abc123", "111111", "sunshine", "princess",
];

/// An estimate of how hard a passphrase is to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    /// Estimated guessing entropy.
    pub bits: u32,
    /// The first rule it breaks, if any.
    pub weakness: Option<Weakness>,
}

/// Estimates how hard `passphrase` is to guess and which rule, if any, it breaks.
pub fn assess(passphrase: &str) -> Assessment {
    let chars: Vec<char> = passphrase.chars().collect();
    let lower = passphrase.to_lowercase();
    let common = COMMON.iter().any(|w| lower.contains(w));
    // What is left once the common password is taken out: a year and a `!` add little.
    let padded_common = COMMON
        .iter()
        .any(|w| lower.contains(w) && lower.chars().count() - w.chars().count() < MIN_CHARS);
    let effective = chars.len() as f64 - predictable(&chars) as f64 * 0.75;
    let mut bits = effective * (pool_size(&chars) as f64).log2();
    if common {
        bits -= 25.0;
    }
    let words = passphrase
        .trim()
        .split(|c: char| c.is_whitespace() || matches!(c, '-' | '_' | '.'))
        .filter(|w| w.chars().count() >= 3)
        .count();
    if words >= 4 {
        bits += 10.0;
    }
    let bits = bits.max(0.0).round() as u32;
    let weakness = if chars.len() < MIN_CHARS {
        Some(Weakness::TooShort {
            chars: chars.len(),
            min: MIN_CHARS,
        })
    } else if padded_common || (bits < MIN_BITS && common) {
        Some(Weakness::Common)
    } else if bits < MIN_BITS {
        Some(Weakness::Guessable {
            bits,
            min: MIN_BITS,
        })
    } else {
        None
    };
    Assessment { bits, weakness }
}

/// Checks a new vault passphrase: an empty one is always refused; a weak one is refused
/// unless `allow_weak` says the person chose it deliberately.
pub fn check_new(passphrase: &Passphrase, allow_weak: bool) -> Result<()> {
    if passphrase.is_empty() {
        return Err(Error::EmptyPassphrase);
    }
    match assess(passphrase.expose_secret()).weakness {
        Some(w) if !allow_weak => Err(Error::WeakPassphrase(w)),
        _ => Ok(()),
    }
}

fn pool_size(chars: &[char]) -> u32 {
    let any = |f: fn(&char) -> bool| chars.iter().any(f);
    let mut pool = 0;
    if any(|c| c.is_ascii_lowercase()) {
        pool += 26;
    }
    if any(|c| c.is_ascii_uppercase()) {
        pool += 26;
    }
    if any(|c| c.is_ascii_digit()) {
        pool += 10;
    }
    if any(|c| c.is_ascii() && !c.is_ascii_alphanumeric() && !c.is_whitespace()) {
        pool += 33;
    }
    if any(|c| c.is_whitespace()) {
        pool += 1;
    }
    if any(|c| !c.is_ascii()) {
        pool += 50;
    }
    pool.max(1)
}

/// Characters that add little: repeats of the previous one or steps of a sequence.
fn predictable(chars: &[char]) -> usize {
    chars
        .windows(2)
        .filter(|w| (w[1] as i64 - w[0] as i64).abs() <= 1)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weakness(p: &str) -> Option<Weakness> {
        assess(p).weakness
    }

    #[test]
    fn the_passwords_people_reach_for_are_refused_with_the_rule_they_break() {
        assert_eq!(
            weakness("password1"),
            Some(Weakness::TooShort { chars: 9, min: 10 })
        );
        assert_eq!(weakness("password123"), Some(Weakness::Common));
        assert_eq!(weakness("Qwerty2024!"), Some(Weakness::Common));
        assert!(matches!(
            weakness("aaaaaaaaaaaa"),
            Some(Weakness::Guessable { .. })
        ));
        assert!(matches!(
            weakness("abcdefghijkl"),
            Some(Weakness::Guessable { .. })
        ));
        assert!(matches!(weakness("1234567890"), Some(Weakness::Common)));
    }

    #[test]
    fn words_and_mixed_passphrases_pass() {
        for p in [
            "correct horse battery staple",
            "snapshot passphrase",
            "Tr0ub4dor&3xyz",
            "grüne Äpfel im Mai",
        ] {
            assert_eq!(weakness(p), None, "{p}: {:?}", assess(p));
        }
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        // Nine characters, 18 bytes in UTF-8: still too short.
        assert_eq!(
            weakness("äöüäöüäöü"),
            Some(Weakness::TooShort { chars: 9, min: 10 })
        );
    }

    #[test]
    fn check_new_refuses_unless_overridden_and_always_refuses_empty() {
        let weak = Passphrase::new("password1".into());
        let e = check_new(&weak, false).unwrap_err();
        assert_eq!(e.code(), "weak_passphrase");
        assert!(e.to_string().contains("at least 10"), "{e}");
        assert!(
            !e.to_string().contains("password1"),
            "the error never repeats the passphrase: {e}"
        );
        check_new(&weak, true).unwrap();
        let empty = Passphrase::new(String::new());
        assert_eq!(
            check_new(&empty, true).unwrap_err().code(),
            "empty_passphrase"
        );
        check_new(
            &Passphrase::new("correct horse battery staple".into()),
            false,
        )
        .unwrap();
    }
}
