//! The trainer interface. Unlearning (retrain only the affected shards) and
//! the ensemble are written against these traits, so another trainer (a
//! small transformer, say) can be plugged in without touching them, as long
//! as its training is a deterministic function of the shard's texts.

/// A trained shard model.
pub trait LanguageModel: Send + Sync {
    /// Probability of `token` after `history` (most recent last). Over all
    /// predicted tokens it sums to 1 for any history.
    fn prob(&self, history: &[u32], token: u32) -> f64;
    /// How many tokens of history the model uses.
    fn context_len(&self) -> usize;
    /// The canonical serialisation; equal data must give equal bytes.
    fn to_bytes(&self) -> Vec<u8>;
}

/// Trains and loads shard models.
pub trait Trainer: Send + Sync {
    /// A stable name, recorded with every model.
    fn name(&self) -> String;
    /// Trains on the given texts. Must not depend on their order.
    fn train(&self, texts: &mut dyn Iterator<Item = &str>) -> Box<dyn LanguageModel>;
    /// [`Trainer::train`] on `threads` threads, where the trainer can; the
    /// model must be the same as with one.
    fn train_texts(&self, texts: &[&str], threads: usize) -> Box<dyn LanguageModel> {
        let _ = threads;
        self.train(&mut texts.iter().copied())
    }
    /// Loads a model written by [`LanguageModel::to_bytes`].
    fn load(&self, bytes: &[u8]) -> Result<Box<dyn LanguageModel>, crate::ModelError>;
}

/// SHA-256 (hex) of a model's canonical bytes.
pub fn model_hash(model: &dyn LanguageModel) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(model.to_bytes()))
}
