//! A creator's machine-readable preference about AI training of an item, as
//! export v1.1's `usage` field carries it. Three vocabularies are accepted,
//! each in one exact form (docs/export-format.md has the grammar):
//!
//! * IETF AI Preferences, the `Content-Usage` form of the vocabulary
//!   (category labels of draft-ietf-aipref-vocab-02; the working group
//!   is still renaming categories, so a label outside this list is refused
//!   rather than guessed): a dictionary of `category=y|n` members
//!   separated by commas, such as `train-ai=n` or `train-ai=y, search=y`.
//!   Categories: `bots` (automated processing, the root), `train-ai` (AI
//!   training), `train-genai` (generative AI training), `ai-use` (use in
//!   AI), `search`. A category without its own preference takes its
//!   parent's: `train-genai` ← `train-ai` ← `bots`. veto trains generative
//!   models, so `train-genai` decides.
//! * W3C TDMRep: `tdm-reservation=1` (rights reserved: no training) or
//!   `tdm-reservation=0`.
//! * CAWG training and data mining assertion, the value of
//!   `cawg.ai_training`: `allowed`, `notAllowed` or `constrained`
//!   (constrained names conditions veto cannot check, so it counts as
//!   `notAllowed`).
//!
//! Written by hand: the forms are tiny, and a general structured-fields
//! parser would accept far more (parameters, inner lists, quoting) than an
//! export should carry.

use std::fmt;

/// What a `usage` value says about training generative AI on the item.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Usage {
    /// No `usage`, or one that says nothing about training.
    #[default]
    Unstated,
    Allowed,
    Disallowed,
}

/// Why a `usage` value is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The aipref categories, each with its parent (None: the root).
const AIPREF: [(&str, Option<&str>); 5] = [
    ("bots", None),
    ("train-ai", Some("bots")),
    ("train-genai", Some("train-ai")),
    ("ai-use", Some("bots")),
    ("search", Some("bots")),
];

impl Usage {
    /// Parses an export's `usage` value.
    pub fn parse(value: &str) -> Result<Usage, UsageError> {
        match value {
            "allowed" => return Ok(Usage::Allowed),
            "notAllowed" | "constrained" => return Ok(Usage::Disallowed),
            "tdm-reservation=1" => return Ok(Usage::Disallowed),
            "tdm-reservation=0" => return Ok(Usage::Allowed),
            _ => {}
        }
        if value.starts_with("tdm-reservation") {
            return Err(UsageError(format!(
                "{value:?}: TDMRep is tdm-reservation=1 or tdm-reservation=0"
            )));
        }
        parse_aipref(value)
    }

    /// Whether the value forbids training.
    pub fn disallows_training(self) -> bool {
        self == Usage::Disallowed
    }
}

fn parse_aipref(value: &str) -> Result<Usage, UsageError> {
    let refuse = |why: String| {
        Err(UsageError(format!(
            "{value:?}: {why} (expected an AI preference such as train-ai=n, a TDMRep \
             tdm-reservation=0|1, or a CAWG value allowed|notAllowed|constrained)"
        )))
    };
    if value.trim().is_empty() {
        return refuse("empty".into());
    }
    let mut stated: Vec<(&str, bool)> = Vec::new();
    for member in value.split(',') {
        // Structured-field dictionaries allow spaces and tabs around members.
        let member = member.trim_matches([' ', '\t']);
        let Some((key, pref)) = member.split_once('=') else {
            return refuse(format!("{member:?} is not category=y|n"));
        };
        if !AIPREF.iter().any(|(k, _)| *k == key) {
            let known: Vec<&str> = AIPREF.iter().map(|(k, _)| *k).collect();
            return refuse(format!("unknown category {key:?} (known: {})", known.join(", ")));
        }
        let allowed = match pref {
            "y" => true,
            "n" => false,
            other => return refuse(format!("{key}={other}: a preference is y or n")),
        };
        if stated.iter().any(|(k, _)| *k == key) {
            return refuse(format!("{key} appears twice"));
        }
        stated.push((key, allowed));
    }
    // The nearest category with a stated preference decides for train-genai.
    let mut category = Some("train-genai");
    while let Some(c) = category {
        if let Some((_, allowed)) = stated.iter().find(|(k, _)| *k == c) {
            return Ok(if *allowed { Usage::Allowed } else { Usage::Disallowed });
        }
        category = AIPREF.iter().find(|(k, _)| *k == c).and_then(|(_, parent)| *parent);
    }
    Ok(Usage::Unstated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_vocabulary_in_its_exact_form() {
        let cases = [
            ("train-ai=n", Usage::Disallowed),
            ("train-ai=y, search=y", Usage::Allowed),
            ("search=n", Usage::Unstated),
            ("bots=n", Usage::Disallowed),
            ("bots=n, train-ai=y", Usage::Allowed),
            ("train-ai=y,train-genai=n", Usage::Disallowed),
            ("bots=n\t, search=y", Usage::Disallowed),
            ("ai-use=n", Usage::Unstated),
            ("tdm-reservation=1", Usage::Disallowed),
            ("tdm-reservation=0", Usage::Allowed),
            ("allowed", Usage::Allowed),
            ("notAllowed", Usage::Disallowed),
            ("constrained", Usage::Disallowed),
        ];
        for (value, want) in cases {
            assert_eq!(Usage::parse(value), Ok(want), "{value}");
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_value_named() {
        for bad in [
            "",
            " ",
            "train-ai",
            "train-ai=no",
            "train-ai=N",
            "Train-AI=n",
            "train-ai=n, train-ai=y",
            "train-ai=n;q=1",
            "tdm-reservation: 1",
            "tdm-reservation=2",
            "notallowed",
            "ai-training=n",
            "tdm=n",
            "train-ai=n,",
        ] {
            let e = Usage::parse(bad).expect_err(bad);
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }
}
