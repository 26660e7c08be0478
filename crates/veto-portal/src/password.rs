//! What a new password must be (OWASP ASVS 2.1): 12 to 128 characters of
//! any Unicode, hashed whole (never truncated), and hard to guess: not a
//! password from the lists of past breaches, nor one of their patterns, nor
//! built from the username. zxcvbn judges guessability; it carries its
//! breach lists offline, so no password leaves the machine for a check.
//! The same rule holds for `veto accounts add` and the change form.

/// The fewest characters a password may have (ASVS 2.1.1).
pub const MIN_CHARS: usize = 12;
/// The most characters a password may have: long passphrases are welcome
/// (ASVS 2.1.2), but argon2id over megabytes is a denial of service.
pub const MAX_CHARS: usize = 128;
/// zxcvbn's score of at least 3 of 4: "safely unguessable", about 10^8
/// guesses or more.
const MIN_SCORE: u8 = 3;

/// Why a new password is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Weakness {
    TooShort,
    TooLong,
    /// Guessable: breached, common, a pattern or the username. zxcvbn's
    /// own advice in English, for the command line; pages say it in the
    /// page's language.
    Guessable {
        advice: String,
    },
}

impl std::fmt::Display for Weakness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Weakness::TooShort => write!(f, "the password must have at least {MIN_CHARS} characters"),
            Weakness::TooLong => write!(f, "the password must have at most {MAX_CHARS} characters"),
            Weakness::Guessable { advice } => write!(f, "the password is too easy to guess: {advice}"),
        }
    }
}

/// Checks a new password. `user_inputs` are words an attacker knows (the
/// username, the email address) that must not carry the password.
/// Characters are Unicode scalar values, as a person counts them; nothing
/// is filtered or normalised away.
pub fn check_new(password: &str, user_inputs: &[&str]) -> Result<(), Weakness> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(Weakness::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weakness::TooLong);
    }
    let entropy = zxcvbn::zxcvbn(password, user_inputs);
    if u8::from(entropy.score()) >= MIN_SCORE {
        return Ok(());
    }
    let advice = entropy
        .feedback()
        .map(|f| {
            let mut parts: Vec<String> = f.warning().map(|w| w.to_string()).into_iter().collect();
            parts.extend(f.suggestions().iter().map(|s| s.to_string()));
            parts.join(" ")
        })
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "add more words or characters that are not a common pattern".to_string());
    Err(Weakness::Guessable { advice })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_counts_characters_not_bytes() {
        // 11 characters of 2 to 4 bytes each: too short although long in bytes.
        assert_eq!(check_new("äöüßéèêëçñ€", &[]), Err(Weakness::TooShort));
        assert_eq!(check_new(&"x".repeat(MAX_CHARS + 1), &[]), Err(Weakness::TooLong));
    }

    #[test]
    fn breached_and_personal_passwords_are_refused() {
        for weak in ["password1234", "123456789012", "qwertyuiop12", "iloveyou1234"] {
            assert!(
                matches!(check_new(weak, &[]), Err(Weakness::Guessable { .. })),
                "{weak}"
            );
        }
        assert!(matches!(
            check_new("alice.mueller2025", &["alice.mueller2025"]),
            Err(Weakness::Guessable { .. })
        ));
    }

    #[test]
    fn passphrases_and_any_unicode_pass() {
        check_new("Kanu Fahrrad Zitrone Nebel", &[]).unwrap();
        check_new("ŻÓŁW żółty śpi pod mostem 7", &[]).unwrap();
        check_new("雪の日に猫が窓辺で眠る夜", &[]).unwrap();
        check_new(&"gx7!Qe2#vL9z".repeat(11)[..MAX_CHARS], &[]).unwrap();
    }
}
