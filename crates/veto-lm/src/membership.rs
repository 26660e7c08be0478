//! Membership inference against a model: does it treat a person's texts
//! as ones it was trained on?
//!
//! * Loss attack: a text's score is its mean token log-probability; members
//!   (texts the model was trained on) tend to score higher.
//! * Min-K% Prob (Shi et al., "Detecting Pretraining Data from Large
//!   Language Models", ICLR 2024): the mean of the K% lowest token
//!   log-probabilities, which ignores the easy tokens every model predicts.
//! * AUC: the probability that a random member scores above a random
//!   non-member (ties count half), 0.5 when the model cannot tell.
//! * PrivLeak (Shi et al., "MUSE: Machine Unlearning Six-Way Evaluation",
//!   2024): (AUC_unlearned − AUC_retrained) / AUC_retrained × 100; 0 when
//!   the unlearned model is as blind to the person as one never trained on
//!   them.
//! * VerbMem (MUSE): the model is prompted with the first half of a text
//!   and its greedy continuation is compared with the true second half by
//!   ROUGE-L F1 over words.
//!
//! Written here, not taken from a crate: no maintained Rust crate computes
//! these against a custom model, and each is a few lines over the model's
//! probabilities.

use crate::Ensemble;
use crate::tokenizer::{EOS, PREDICTED, encode};

/// Natural-log probability of each token of `text` (its bytes and EOS).
pub fn token_log_probs(model: &Ensemble, text: &str) -> Vec<f64> {
    let tokens: Vec<u32> = encode(text).collect();
    let keep = model.context_len();
    (0..tokens.len())
        .map(|i| model.prob(&tokens[i.saturating_sub(keep)..i], tokens[i]).ln())
        .collect()
}

/// The loss attack's score: the mean token log-probability.
pub fn loss_score(log_probs: &[f64]) -> f64 {
    if log_probs.is_empty() {
        return 0.0;
    }
    log_probs.iter().sum::<f64>() / log_probs.len() as f64
}

/// Min-K% Prob: the mean of the `k_percent`% lowest token log-probabilities
/// (at least one token).
pub fn min_k_score(log_probs: &[f64], k_percent: f64) -> f64 {
    if log_probs.is_empty() {
        return 0.0;
    }
    let mut sorted = log_probs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = ((sorted.len() as f64 * k_percent / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[..n].iter().sum::<f64>() / n as f64
}

/// The AUC of scores where members should score higher: the share of
/// (member, non-member) pairs the member wins, ties counting half.
/// `None` when either side is empty.
pub fn auc(members: &[f64], nonmembers: &[f64]) -> Option<f64> {
    if members.is_empty() || nonmembers.is_empty() {
        return None;
    }
    let mut wins = 0.0;
    for m in members {
        for n in nonmembers {
            wins += match m.total_cmp(n) {
                std::cmp::Ordering::Greater => 1.0,
                std::cmp::Ordering::Equal => 0.5,
                std::cmp::Ordering::Less => 0.0,
            };
        }
    }
    Some(wins / (members.len() * nonmembers.len()) as f64)
}

/// MUSE's PrivLeak in percent.
pub fn privleak(auc_unlearned: f64, auc_retrained: f64) -> f64 {
    (auc_unlearned - auc_retrained) / auc_retrained * 100.0
}

/// The most likely continuation of `prompt`, up to `max_bytes` bytes or EOS
/// (ties go to the lower token, so it is deterministic).
pub fn greedy(model: &Ensemble, prompt: &str, max_bytes: usize) -> String {
    let keep = model.context_len();
    let mut history: Vec<u32> = prompt.bytes().map(u32::from).collect();
    let mut out = Vec::new();
    for _ in 0..max_bytes {
        let h = &history[history.len().saturating_sub(keep)..];
        let (mut best, mut best_p) = (EOS, f64::NEG_INFINITY);
        for t in 0..PREDICTED as u32 {
            let p = model.prob(h, t);
            if p > best_p {
                (best, best_p) = (t, p);
            }
        }
        if best == EOS {
            break;
        }
        out.push(best as u8);
        history.push(best);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// ROUGE-L F1 over whitespace-separated words: the longest common
/// subsequence against both lengths. 0 when either text has no words.
pub fn rouge_l_f1(candidate: &str, reference: &str) -> f64 {
    let (c, r): (Vec<&str>, Vec<&str>) = (
        candidate.split_whitespace().collect(),
        reference.split_whitespace().collect(),
    );
    if c.is_empty() || r.is_empty() {
        return 0.0;
    }
    let mut row = vec![0usize; r.len() + 1];
    for cw in &c {
        let mut diagonal = 0;
        for (j, rw) in r.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = if cw == rw { diagonal + 1 } else { up.max(row[j]) };
            diagonal = up;
        }
    }
    let lcs = row[r.len()] as f64;
    if lcs == 0.0 {
        return 0.0;
    }
    let (p, rec) = (lcs / c.len() as f64, lcs / r.len() as f64);
    2.0 * p * rec / (p + rec)
}

/// The split of a text into prompt and continuation for VerbMem: at the
/// char boundary nearest the middle byte.
pub fn halves(text: &str) -> (&str, &str) {
    let mut mid = text.len() / 2;
    while !text.is_char_boundary(mid) {
        mid += 1;
    }
    text.split_at(mid)
}

/// MUSE's VerbMem: mean ROUGE-L F1 of the greedy continuation of each
/// text's first half against its second half. `None` for no texts.
pub fn verbmem<'a>(model: &Ensemble, texts: impl Iterator<Item = &'a str>) -> Option<f64> {
    let scores: Vec<f64> = texts
        .map(|t| {
            let (prompt, rest) = halves(t);
            rouge_l_f1(&greedy(model, prompt, rest.len()), rest)
        })
        .collect();
    (!scores.is_empty()).then(|| scores.iter().sum::<f64>() / scores.len() as f64)
}

/// What one model reveals about a set of member texts against non-members.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    /// AUC of the loss attack.
    pub auc_loss: f64,
    /// AUC of Min-K% Prob.
    pub auc_min_k: f64,
    /// VerbMem over the member texts.
    pub verbmem: f64,
}

/// Measures `model` on `members` against `nonmembers` (Min-K% with
/// `k_percent`). `None` when either side is empty.
pub fn measure(model: &Ensemble, members: &[&str], nonmembers: &[&str], k_percent: f64) -> Option<Figures> {
    let score = |texts: &[&str]| -> (Vec<f64>, Vec<f64>) {
        texts
            .iter()
            .map(|t| {
                let lp = token_log_probs(model, t);
                (loss_score(&lp), min_k_score(&lp, k_percent))
            })
            .unzip()
    };
    let (m_loss, m_min_k) = score(members);
    let (n_loss, n_min_k) = score(nonmembers);
    Some(Figures {
        auc_loss: auc(&m_loss, &n_loss)?,
        auc_min_k: auc(&m_min_k, &n_min_k)?,
        verbmem: verbmem(model, members.iter().copied())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_won_pairs_and_half_ties() {
        // Pairs: (3,1) (3,2) win, (2,1) win, (2,2) tie, (1,1) tie, (1,2) lost
        // → 3 wins + 2 × 0.5 over 6 pairs.
        assert_eq!(auc(&[3.0, 2.0, 1.0], &[1.0, 2.0]), Some(4.0 / 6.0));
        assert_eq!(auc(&[5.0], &[1.0, 2.0]), Some(1.0));
        assert_eq!(auc(&[0.0], &[1.0]), Some(0.0));
        assert_eq!(auc(&[], &[1.0]), None);
    }

    #[test]
    fn min_k_takes_the_lowest_share_of_tokens() {
        let lp = [-1.0, -5.0, -2.0, -4.0, -3.0, -0.5, -0.1, -0.2, -0.3, -0.4];
        assert_eq!(min_k_score(&lp, 20.0), -4.5);
        assert_eq!(min_k_score(&lp, 1.0), -5.0, "at least one token");
        assert!((min_k_score(&lp, 100.0) - loss_score(&lp)).abs() < 1e-12);
    }

    #[test]
    fn rouge_l_is_the_f1_of_the_longest_common_word_subsequence() {
        assert_eq!(rouge_l_f1("a b c d", "a b c d"), 1.0);
        // LCS "a c" = 2: precision 2/3, recall 2/4 → F1 = 4/7.
        let f = rouge_l_f1("a x c", "a b c d");
        assert!((f - 4.0 / 7.0).abs() < 1e-12, "{f}");
        assert_eq!(rouge_l_f1("x y", "a b"), 0.0);
        assert_eq!(rouge_l_f1("", "a"), 0.0);
    }

    #[test]
    fn privleak_is_relative_to_the_retrained_auc() {
        assert_eq!(privleak(0.5, 0.5), 0.0);
        assert_eq!(privleak(0.75, 0.5), 50.0);
        assert_eq!(privleak(0.25, 0.5), -50.0);
    }

    #[test]
    fn halves_split_on_a_char_boundary() {
        assert_eq!(halves("abcd"), ("ab", "cd"));
        let (a, b) = halves("aäb");
        assert_eq!(format!("{a}{b}"), "aäb");
    }
}
