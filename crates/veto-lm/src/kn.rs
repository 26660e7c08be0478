//! Interpolated modified Kneser-Ney (Chen & Goodman, 1998) over the byte
//! tokenizer.
//!
//! A model stores only the raw counts of its highest-order n-grams (every
//! text padded with `order - 1` BOS tokens). Everything else is derived
//! deterministically on load: the adjusted counts of each lower order (the
//! number of distinct left extensions of an n-gram), per-context totals and
//! the counts of n-grams seen once, twice and three or more times, and the
//! three discounts of each order from its count-of-counts. Integers in,
//! floats only at query time: the same texts always give the same bytes.

use rustc_hash::FxHashMap as HashMap;

use crate::ModelError;
use crate::tokenizer::{BOS, PREDICTED, encode};
use crate::trainer::{LanguageModel, Trainer};

/// Tokens are below 512, so a k-gram packs into 9k bits of a u64.
const RADIX: u64 = 512;
pub const MIN_ORDER: usize = 2;
pub const MAX_ORDER: usize = 7;
const MAGIC: &[u8] = b"veto-kn/1\0";

fn pack(tokens: &[u32]) -> u64 {
    tokens.iter().fold(0, |acc, t| acc * RADIX + u64::from(*t))
}

/// Trains [`KnModel`]s of a fixed order.
#[derive(Clone, Copy, Debug)]
pub struct KneserNey {
    pub order: usize,
}

impl KneserNey {
    pub fn new(order: usize) -> Result<KneserNey, String> {
        if (MIN_ORDER..=MAX_ORDER).contains(&order) {
            Ok(KneserNey { order })
        } else {
            Err(format!(
                "order must be between {MIN_ORDER} and {MAX_ORDER}, not {order}"
            ))
        }
    }

    /// Counts the highest-order n-grams of `texts`.
    pub fn count(&self, texts: &mut dyn Iterator<Item = &str>) -> KnModel {
        KnModel::from_raw(self.order, self.count_raw(texts))
    }

    /// The highest-order counts of `texts`, sorted by key (without the
    /// derived tables, which [`KnModel::from_raw`] builds once).
    fn count_raw(&self, texts: &mut dyn Iterator<Item = &str>) -> Vec<(u64, u32)> {
        let n = self.order;
        let mut counts: HashMap<u64, u32> = HashMap::default();
        // The packed key of the last n - 1 tokens rolls along the text: one
        // multiply-add and one modulo per token, the same key as `pack` of
        // the n-token window (no window to shift: shifting a Vec per token
        // was half of the counting time).
        let context = RADIX.pow(n as u32 - 1);
        let start = pack(&vec![BOS; n - 1]);
        for text in texts {
            let mut history = start;
            for t in encode(text) {
                let key = history * RADIX + u64::from(t);
                *counts.entry(key).or_default() += 1;
                history = key % context;
            }
        }
        let mut raw: Vec<(u64, u32)> = counts.into_iter().collect();
        raw.sort_unstable();
        raw
    }

    /// [`KneserNey::count`] on `threads` threads: each counts a slice of
    /// the texts, and the sorted counts are merged. The counts, and so the
    /// model's bytes, are the same for any number of threads.
    pub fn count_parallel(&self, texts: &[&str], threads: usize) -> KnModel {
        let threads = threads.clamp(1, texts.len().max(1));
        if threads == 1 {
            return self.count(&mut texts.iter().copied());
        }
        let chunk = texts.len().div_ceil(threads);
        let parts: Vec<Vec<(u64, u32)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = texts
                .chunks(chunk)
                .map(|part| scope.spawn(move || self.count_raw(&mut part.iter().copied())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        KnModel::from_raw(self.order, merge_counts(parts))
    }
}

/// Merges sorted (key, count) lists, adding the counts of equal keys.
fn merge_counts(parts: Vec<Vec<(u64, u32)>>) -> Vec<(u64, u32)> {
    let mut merged: Vec<(u64, u32)> = Vec::new();
    for part in parts {
        let mut out = Vec::with_capacity(merged.len() + part.len());
        let (mut a, mut b) = (merged.into_iter().peekable(), part.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    let (k, c) = (x.0, x.1 + y.1);
                    a.next();
                    b.next();
                    (k, c)
                }
                (Some(x), Some(y)) if x.0 < y.0 => a.next().expect("peeked"),
                (Some(_), Some(_)) | (None, Some(_)) => b.next().expect("peeked"),
                (Some(_), None) => a.next().expect("peeked"),
                (None, None) => break,
            };
            out.push(next);
        }
        merged = out;
    }
    merged
}

impl Trainer for KneserNey {
    fn name(&self) -> String {
        format!("kneser-ney-bytes/order-{}", self.order)
    }

    fn train(&self, texts: &mut dyn Iterator<Item = &str>) -> Box<dyn LanguageModel> {
        Box::new(self.count(texts))
    }

    fn train_texts(&self, texts: &[&str], threads: usize) -> Box<dyn LanguageModel> {
        Box::new(self.count_parallel(texts, threads))
    }

    fn load(&self, bytes: &[u8]) -> Result<Box<dyn LanguageModel>, ModelError> {
        let model = KnModel::from_bytes(bytes)?;
        if model.order != self.order {
            return Err(ModelError::Corrupt(format!(
                "model has order {}, expected {}",
                model.order, self.order
            )));
        }
        Ok(Box::new(model))
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Context {
    total: u64,
    /// Distinct continuations seen once, twice, three or more times.
    n: [u32; 3],
}

/// A trained model: raw counts plus the tables derived from them.
pub struct KnModel {
    order: usize,
    /// Highest-order counts, sorted by key: the canonical content.
    raw: Vec<(u64, u32)>,
    /// `adjusted[k - 1]`: adjusted counts of k-grams.
    adjusted: Vec<HashMap<u64, u32>>,
    /// `contexts[k - 1]`: statistics of (k-1)-token contexts at order k.
    contexts: Vec<HashMap<u64, Context>>,
    /// `discounts[k - 1]`: D1, D2, D3+ of order k.
    discounts: Vec<[f64; 3]>,
}

impl KnModel {
    fn from_raw(order: usize, raw: Vec<(u64, u32)>) -> KnModel {
        let mut adjusted: Vec<HashMap<u64, u32>> = vec![HashMap::default(); order];
        adjusted[order - 1] = raw.iter().copied().collect();
        for k in (1..order).rev() {
            let modulus = RADIX.pow(k as u32);
            let mut lower: HashMap<u64, u32> = HashMap::default();
            for key in adjusted[k].keys() {
                *lower.entry(key % modulus).or_default() += 1;
            }
            adjusted[k - 1] = lower;
        }
        let mut contexts = Vec::with_capacity(order);
        let mut discounts = Vec::with_capacity(order);
        for level in &adjusted {
            let mut ctx: HashMap<u64, Context> = HashMap::default();
            let mut count_of_counts = [0u64; 4];
            for (key, &a) in level {
                let c = ctx.entry(key / RADIX).or_default();
                c.total += u64::from(a);
                c.n[(a.min(3) - 1) as usize] += 1;
                if a <= 4 {
                    count_of_counts[(a - 1) as usize] += 1;
                }
            }
            contexts.push(ctx);
            discounts.push(modified_discounts(count_of_counts));
        }
        KnModel {
            order,
            raw,
            adjusted,
            contexts,
            discounts,
        }
    }

    /// Number of distinct highest-order n-grams.
    pub fn ngrams(&self) -> usize {
        self.raw.len()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<KnModel, ModelError> {
        let rest = bytes
            .strip_prefix(MAGIC)
            .ok_or(ModelError::Format { expected: "veto-kn/1" })?;
        let corrupt = |m: &str| ModelError::Corrupt(m.to_string());
        let (&order, rest) = rest.split_first().ok_or_else(|| corrupt("no order"))?;
        let order = order as usize;
        if !(MIN_ORDER..=MAX_ORDER).contains(&order) {
            return Err(corrupt("order out of range"));
        }
        let n = u64::from_le_bytes(
            rest.get(..8)
                .ok_or_else(|| corrupt("no length"))?
                .try_into()
                .expect("8 bytes"),
        ) as usize;
        let body = &rest[8..];
        if body.len() != n * 12 {
            return Err(corrupt("length does not match"));
        }
        let raw: Vec<(u64, u32)> = body
            .chunks_exact(12)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().expect("8")),
                    u32::from_le_bytes(c[8..].try_into().expect("4")),
                )
            })
            .collect();
        if raw.windows(2).any(|w| w[0].0 >= w[1].0) || raw.iter().any(|(_, c)| *c == 0) {
            return Err(corrupt("entries not canonical"));
        }
        Ok(KnModel::from_raw(order, raw))
    }
}

/// Chen & Goodman's discounts from n1..n4, clamped to [0, i] so every
/// distribution stays normalised; defaults where the counts are too sparse.
fn modified_discounts(n: [u64; 4]) -> [f64; 3] {
    let [n1, n2, n3, n4] = n.map(|x| x as f64);
    if n1 == 0.0 || n2 == 0.0 || n3 == 0.0 {
        return [0.5, 1.0, 1.5];
    }
    let y = n1 / (n1 + 2.0 * n2);
    let d1 = 1.0 - 2.0 * y * n2 / n1;
    let d2 = 2.0 - 3.0 * y * n3 / n2;
    let d3 = if n4 == 0.0 { 1.5 } else { 3.0 - 4.0 * y * n4 / n3 };
    [d1.clamp(0.0, 1.0), d2.clamp(0.0, 2.0), d3.clamp(0.0, 3.0)]
}

impl LanguageModel for KnModel {
    fn prob(&self, history: &[u32], token: u32) -> f64 {
        let mut p = 1.0 / PREDICTED as f64;
        let mut context: Vec<u32> = Vec::with_capacity(self.order);
        for k in 1..=self.order {
            // The last k-1 tokens of BOS padding + history.
            context.clear();
            let have = history.len().min(k - 1);
            context.extend(std::iter::repeat_n(BOS, k - 1 - have));
            context.extend_from_slice(&history[history.len() - have..]);
            let key = pack(&context);
            let Some(c) = self.contexts[k - 1].get(&key) else { break };
            let a = self.adjusted[k - 1]
                .get(&(key * RADIX + u64::from(token)))
                .copied()
                .unwrap_or(0);
            let d = &self.discounts[k - 1];
            let discount = match a {
                0 => 0.0,
                1 => d[0],
                2 => d[1],
                _ => d[2],
            };
            let total = c.total as f64;
            let gamma = (d[0] * f64::from(c.n[0]) + d[1] * f64::from(c.n[1]) + d[2] * f64::from(c.n[2])) / total;
            p = (f64::from(a) - discount).max(0.0) / total + gamma * p;
        }
        p
    }

    fn context_len(&self) -> usize {
        self.order - 1
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + 9 + self.raw.len() * 12);
        out.extend_from_slice(MAGIC);
        out.push(self.order as u8);
        out.extend_from_slice(&(self.raw.len() as u64).to_le_bytes());
        for (key, count) in &self.raw {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&count.to_le_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const TEXTS: &[&str] = &[
        "Heute war ein schöner Tag.",
        "Heute war ein langer Tag.",
        "Morgen wird ein schöner Tag.",
        "Der Zug hatte Verspätung.",
    ];

    #[test]
    fn probabilities_sum_to_one_for_any_history() {
        let model = KneserNey::new(4).unwrap().count(&mut TEXTS.iter().copied());
        for history in ["", "H", "Heute war ", "xyz", "Tag"] {
            let h: Vec<u32> = history.bytes().map(u32::from).collect();
            let total: f64 = (0..PREDICTED as u32).map(|t| model.prob(&h, t)).sum();
            assert!((total - 1.0).abs() < 1e-9, "{history:?}: {total}");
        }
    }

    #[test]
    fn the_model_prefers_what_it_saw() {
        let model = KneserNey::new(5).unwrap().count(&mut TEXTS.iter().copied());
        let h: Vec<u32> = "Heute war ein sch".bytes().map(u32::from).collect();
        assert!(model.prob(&h, u32::from(b'\xc3')) > 0.5, "ö follows 'sch' here");
        assert!(model.prob(&h, u32::from(b'q')) < 0.01);
    }

    #[test]
    fn serialisation_is_canonical_and_round_trips() {
        let a = KneserNey::new(3).unwrap().count(&mut TEXTS.iter().copied());
        let b = KneserNey::new(3).unwrap().count(&mut TEXTS.iter().rev().copied());
        assert_eq!(a.to_bytes(), b.to_bytes(), "order of texts does not matter");
        let c = KnModel::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(c.to_bytes(), a.to_bytes());
        let h: Vec<u32> = "Heute".bytes().map(u32::from).collect();
        assert_eq!(c.prob(&h, 32), a.prob(&h, 32));
        let mut bad = a.to_bytes();
        bad.truncate(bad.len() - 1);
        assert!(KnModel::from_bytes(&bad).is_err());
        assert!(KneserNey::new(9).is_err());
    }

    proptest! {
        /// The rolling key against the definition: every window of `order`
        /// tokens of each text padded with `order - 1` BOS, packed.
        #[test]
        fn counts_are_the_windows_of_the_padded_texts(texts in prop::collection::vec("[a-cä ]{0,12}", 0..20), order in 2usize..8) {
            let mut want: std::collections::BTreeMap<u64, u32> = Default::default();
            for t in &texts {
                let padded: Vec<u32> = std::iter::repeat_n(BOS, order - 1).chain(encode(t)).collect();
                for w in padded.windows(order) {
                    *want.entry(pack(w)).or_default() += 1;
                }
            }
            let got = KneserNey::new(order).unwrap().count(&mut texts.iter().map(String::as_str));
            prop_assert_eq!(got.raw, want.into_iter().collect::<Vec<_>>());
        }

        #[test]
        fn counting_on_several_threads_gives_the_same_model(texts in prop::collection::vec("[a-c ]{0,12}", 0..30), threads in 1usize..5) {
            let kn = KneserNey::new(3).unwrap();
            let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
            prop_assert_eq!(kn.count_parallel(&texts, threads).to_bytes(), kn.count(&mut texts.iter().copied()).to_bytes());
        }

        #[test]
        fn any_corpus_gives_a_normalised_model(texts in prop::collection::vec("[a-zäö ]{0,20}", 1..8), history in "[a-z ]{0,6}", order in 2usize..6) {
            let model = KneserNey::new(order).unwrap().count(&mut texts.iter().map(String::as_str));
            let h: Vec<u32> = history.bytes().map(u32::from).collect();
            let total: f64 = (0..PREDICTED as u32).map(|t| model.prob(&h, t)).sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "{}", total);
        }
    }
}
