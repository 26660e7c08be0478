//! Clearing the repeat filter's candidates without reading the export again.
//!
//! `veto_check_item` flags item ids that may repeat; at 10 million ids about
//! 0.2% of them, nearly all false positives. The query's sort consumes its
//! whole input before it emits a row, so when the first sorted batch arrives
//! every item has been checked and the candidate list is complete. Every row
//! then passes [`RepeatWatch::observe`] once: a candidate that comes by twice
//! is a real repeat. Only in that case (or if candidates still arrived after
//! the first batch, which a streaming plan could do) does the build read the
//! export's ids again to name the two rows.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::StringArray;
use datafusion::common::HashSet;

pub struct RepeatWatch {
    candidates: Arc<Mutex<Vec<String>>>,
    /// The candidates as they were at the first sorted batch, and how many.
    watched: Option<(HashSet<String>, usize)>,
    /// Watched ids seen once so far.
    passed: HashSet<String>,
    repeated: bool,
}

impl RepeatWatch {
    pub fn new(candidates: Arc<Mutex<Vec<String>>>) -> RepeatWatch {
        RepeatWatch {
            candidates,
            watched: None,
            passed: HashSet::default(),
            repeated: false,
        }
    }

    /// Notes the item ids of one batch of the sorted output.
    pub fn observe(&mut self, item_ids: &StringArray) {
        let (watched, _) = self.watched.get_or_insert_with(|| {
            let list = self.candidates.lock().expect("candidates lock");
            (list.iter().cloned().collect(), list.len())
        });
        if watched.is_empty() {
            return;
        }
        for id in item_ids.iter().flatten() {
            if watched.contains(id) && !self.passed.insert(id.to_string()) {
                self.repeated = true;
            }
        }
    }

    /// The candidates, if the export's ids must be read again to settle
    /// them: some candidate came by twice, or the list grew after the first
    /// sorted batch.
    pub fn unsettled(self) -> Option<Vec<String>> {
        let list = std::mem::take(&mut *self.candidates.lock().expect("candidates lock"));
        let watched = self.watched.map_or(0, |(_, n)| n);
        (self.repeated || list.len() != watched).then_some(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(candidates: &[&str]) -> (RepeatWatch, Arc<Mutex<Vec<String>>>) {
        let list = Arc::new(Mutex::new(candidates.iter().map(|c| c.to_string()).collect()));
        (RepeatWatch::new(list.clone()), list)
    }

    #[test]
    fn false_positives_seen_once_need_no_second_read() {
        let (mut w, _) = watch(&["b", "d"]);
        w.observe(&StringArray::from(vec!["a", "b", "c"]));
        w.observe(&StringArray::from(vec!["d", "e"]));
        assert_eq!(w.unsettled(), None);
    }

    #[test]
    fn a_candidate_seen_twice_sends_the_build_back_to_the_export() {
        let (mut w, _) = watch(&["b"]);
        w.observe(&StringArray::from(vec!["a", "b"]));
        w.observe(&StringArray::from(vec!["b", "c"]));
        assert_eq!(w.unsettled(), Some(vec!["b".to_string()]));
    }

    #[test]
    fn candidates_that_arrive_after_the_first_batch_are_not_trusted_away() {
        let (mut w, list) = watch(&[]);
        w.observe(&StringArray::from(vec!["a", "b"]));
        list.lock().unwrap().push("b".into());
        w.observe(&StringArray::from(vec!["b"]));
        assert_eq!(w.unsettled(), Some(vec!["b".to_string()]));
    }
}
