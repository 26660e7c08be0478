//! The ensemble of shard models: the mean of their probabilities, a
//! normalised mixture, so perplexity is well defined.

use std::sync::Arc;

use rand::Rng;

use crate::tokenizer::{EOS, PREDICTED, encode};
use crate::trainer::LanguageModel;

pub struct Ensemble {
    models: Vec<Arc<dyn LanguageModel>>,
}

impl Ensemble {
    /// An ensemble of shard models; they may be shared with other ensembles.
    pub fn new(models: Vec<Arc<dyn LanguageModel>>) -> Ensemble {
        assert!(!models.is_empty(), "an ensemble needs at least one model");
        Ensemble { models }
    }

    pub fn prob(&self, history: &[u32], token: u32) -> f64 {
        self.models.iter().map(|m| m.prob(history, token)).sum::<f64>() / self.models.len() as f64
    }

    /// The longest history any member model looks at.
    pub fn context_len(&self) -> usize {
        self.models.iter().map(|m| m.context_len()).max().unwrap_or(0)
    }

    /// Natural-log probability of `continuation` (tokens) after `history`.
    pub fn log_prob(&self, history: &[u32], continuation: &[u32]) -> f64 {
        let keep = self.context_len();
        let mut h: Vec<u32> = history[history.len().saturating_sub(keep)..].to_vec();
        let mut total = 0.0;
        for &t in continuation {
            total += self.prob(&h, t).ln();
            h.push(t);
            if h.len() > keep {
                h.remove(0);
            }
        }
        total
    }

    /// Perplexity per token (bytes and EOS) over `texts`: exp of the mean
    /// negative log-likelihood. Returns (perplexity, tokens).
    pub fn perplexity<'a>(&self, texts: impl Iterator<Item = &'a str>) -> (f64, u64) {
        let (mut nll, mut tokens) = (0.0, 0u64);
        for text in texts {
            let t: Vec<u32> = encode(text).collect();
            nll -= self.log_prob(&[], &t);
            tokens += t.len() as u64;
        }
        if tokens == 0 {
            return (f64::NAN, 0);
        }
        ((nll / tokens as f64).exp(), tokens)
    }

    /// Samples up to `max_bytes` bytes after `prompt`, stopping at EOS.
    pub fn sample(&self, prompt: &str, max_bytes: usize, rng: &mut impl Rng) -> String {
        let keep = self.context_len();
        let mut history: Vec<u32> = prompt.bytes().map(u32::from).collect();
        let mut out = Vec::new();
        for _ in 0..max_bytes {
            let h = &history[history.len().saturating_sub(keep)..];
            let mut r: f64 = rng.random();
            let mut next = EOS;
            for t in 0..PREDICTED as u32 {
                r -= self.prob(h, t);
                if r <= 0.0 {
                    next = t;
                    break;
                }
            }
            if next == EOS {
                break;
            }
            out.push(next as u8);
            history.push(next);
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}
