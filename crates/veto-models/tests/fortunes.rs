//! Real German text: Debian's fortunes-de quotes (installed by .ci/run with
//! apt) as a platform export, built, trained and evaluated.

use std::path::Path;

use veto_core::Policy;
use veto_engine::build::DEFAULT_MEMORY_LIMIT;
use veto_engine::{BuildRequest, Destination, OnError};
use veto_lm::KneserNey;
use veto_models::train;

#[test]
fn on_real_german_text_a_longer_context_predicts_better() {
    let dir = Path::new(veto_synth::fortunes::DEFAULT_DIR);
    if !dir.is_dir() {
        assert!(
            std::env::var_os("VETO_SKIP_FORTUNES").is_some(),
            "{} is missing: `apt-get install fortunes-de` (or set VETO_SKIP_FORTUNES=1)",
            dir.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let export = tmp.path().join("export");
    let (persons, items) = veto_synth::fortunes::convert(dir, &export).unwrap();
    assert!(persons > 1000 && items > 10_000, "{persons} authors, {items} quotes");
    let snapshot = tmp.path().join("snap");
    let req = BuildRequest {
        data_dir: export,
        policy: Policy::preset("strict").unwrap(),
        as_of: veto_core::time::parse_rfc3339("2025-06-01T00:00:00Z").unwrap(),
        shards: 4,
        threads: 2,
        destination: Destination::Exact(snapshot.clone()),
        on_error: OnError::Abort,
        secret: b"fortunes".to_vec(),
        objections: vec![],
        third_parties: Vec::new(),
        memory_limit: DEFAULT_MEMORY_LIMIT,
        progress: false,
    };
    let m = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(veto_engine::build(req))
        .unwrap()
        .manifest;
    assert_eq!(m.items.included, items, "every quote is public, by an adult in DE");
    let perplexity = |order: usize| {
        let kn = KneserNey::new(order).unwrap();
        train::train_model(
            &snapshot,
            &tmp.path().join(format!("model-{order}")),
            &veto_models::trainer::ShardTrainer::Builtin(kn),
            2,
            "2025-06-02T00:00:00Z",
        )
        .unwrap()
        .heldout
        .perplexity
    };
    let (bigram, fivegram) = (perplexity(2), perplexity(5));
    eprintln!("fortunes-de held-out perplexity per byte: order 2 {bigram:.3}, order 5 {fivegram:.3}");
    // Uniform over bytes would be 257; a bigram model of German is far better,
    // and five bytes of context better still.
    assert!(bigram < 20.0, "{bigram}");
    assert!(fivegram < bigram * 0.8, "order 5 {fivegram} vs order 2 {bigram}");
}
