//! The public summary of the content used for training (EU AI Act,
//! Art. 53(1)(d)), in the structure of the European Commission's template of
//! July 2025: 1 general information, 2 list of data sources, 3 data
//! processing aspects. Every number comes from the manifest and the ledger.

use std::collections::BTreeMap;
use std::fmt::Write;

use veto_core::Policy;
use veto_core::ledger::Entry;
use veto_snapshot::Manifest;

/// Output format of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Markdown,
    Html,
}

/// Everything the report is made from.
pub struct ReportInput<'a> {
    pub manifest: &'a Manifest,
    /// The policy the snapshot was built with (its sha256 must match).
    pub policy: Option<&'a Policy>,
    pub ledger: &'a [Entry],
    pub provider: &'a str,
}

/// Text tokens estimated from UTF-8 bytes (about 4 bytes per token for
/// European languages); used only to pick the template's size band.
fn token_band(bytes: u64) -> &'static str {
    let tokens = bytes / 4;
    if tokens < 1_000_000_000 {
        "less than 1 billion tokens"
    } else if tokens < 10_000_000_000_000 {
        "1 billion to 10 trillion tokens"
    } else {
        "more than 10 trillion tokens"
    }
}

fn count_band(n: u64, unit: &str) -> String {
    if n < 1_000_000 {
        format!("less than 1 million {unit}")
    } else {
        format!("1 million {unit} or more")
    }
}

struct Section {
    title: String,
    lines: Vec<String>,
    chart: Option<(String, BTreeMap<String, u64>)>,
}

fn sections(input: &ReportInput<'_>) -> Vec<Section> {
    let m = input.manifest;
    let images: u64 = ["photo", "profile_picture", "story"]
        .iter()
        .map(|k| m.included_by_kind.get(*k).copied().unwrap_or(0))
        .sum();
    let videos: u64 = ["video", "reel"]
        .iter()
        .map(|k| m.included_by_kind.get(*k).copied().unwrap_or(0))
        .sum();
    let list = |map: &BTreeMap<String, u64>| {
        map.iter()
            .map(|(k, v)| format!("{k} ({v})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let models: Vec<String> = input
        .ledger
        .iter()
        .filter(|e| e.kind == "model_trained" && e.payload["snapshot_id"] == m.snapshot_id.as_str())
        .map(|e| e.payload["model_id"].as_str().unwrap_or("?").to_string())
        .collect();
    let head = input
        .ledger
        .last()
        .map(|e| format!("entry {} ({})", e.seq, e.hash))
        .unwrap_or_else(|| "none".into());
    let policy_lines = match input.policy {
        Some(p) => vec![
            format!(
                "Objection deadline: {} (on time until the end of that second).",
                p.deadline_display()
            ),
            format!(
                "Objections filed after the deadline: {}.",
                match p.late_objections {
                    veto_core::LateObjections::KeepTrained =>
                        "excluded from later builds; models already trained are kept",
                    veto_core::LateObjections::Unlearn =>
                        "excluded from later builds and unlearned from trained models by retraining the affected shards",
                }
            ),
            format!(
                "Minimum age of authors: {} years on the day the content was created.",
                p.min_age
            ),
            format!(
                "Regions: {}.",
                if p.regions.is_empty() {
                    "all".to_string()
                } else {
                    p.regions.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ),
        ],
        None => vec!["The policy text was not available to this report; see its SHA-256 above.".into()],
    };
    vec![
        Section {
            title: "1. General information".into(),
            lines: vec![
                format!("1.1 Provider: {}.", input.provider),
                format!(
                    "1.2 Training data set: snapshot {} built as of {}. Models trained on it (ledger): {}.",
                    m.snapshot_id,
                    m.as_of,
                    if models.is_empty() { "none recorded yet".to_string() } else { models.join(", ") }
                ),
                format!(
                    "1.3 Modalities and size: text, {} items, {} bytes of text ({}); images: {} ({}); video: {} ({}).",
                    m.items.included,
                    m.included_text_bytes,
                    token_band(m.included_text_bytes),
                    images,
                    count_band(images, "images"),
                    videos,
                    count_band(videos, "videos")
                ),
                format!(
                    "1.4 Latest data collection date: {} (content created up to the build's as-of time {}).",
                    m.latest_item_created_at.as_deref().unwrap_or("no content"),
                    m.as_of
                ),
                format!("1.5 Languages (items by language tag): {}.", list(&m.included_by_lang)),
            ],
            chart: Some(("Included items by kind".into(), m.included_by_kind.clone())),
        },
        Section {
            title: "2. List of data sources".into(),
            lines: vec![
                "2.1 Publicly available datasets: none.".into(),
                "2.2 Private non-publicly available datasets obtained from third parties: none.".into(),
                "2.3 Data crawled and scraped from online sources: none.".into(),
                format!("2.4 User data: content of the provider's own services: {}.", list(&m.included_by_platform)),
                format!("    Kinds of content: {}.", list(&m.included_by_kind)),
                format!(
                    "    Audiences: {} (public content; `assistant` are users' conversations with the AI assistant). Private messages, end-to-end encrypted chats and content shared with friends or only oneself are never used.",
                    list(&m.included_by_audience)
                ),
                "2.5 Synthetic data: none.".into(),
                "2.6 Other sources: none.".into(),
            ],
            chart: Some(("Included items by service".into(), m.included_by_platform.clone())),
        },
        Section {
            title: "3. Data processing aspects".into(),
            lines: [
                vec![
                    format!("3.1 Policy in force: {} (SHA-256 {}).", m.policy.name, m.policy.sha256),
                    format!(
                        "    Objections (GDPR Art. 21) on file when built: {}; items excluded because of an objection: {}.",
                        m.objections_on_file,
                        m.excluded_by_reason.get("objection").copied().unwrap_or(0)
                    ),
                ],
                policy_lines,
                vec![
                    format!(
                        "3.2 Items read: {}; included: {}; excluded: {} ({}); rejected as malformed: {}.",
                        m.items.read,
                        m.items.included,
                        m.items.excluded,
                        list(&m.excluded_by_reason),
                        m.items.rejected
                    ),
                    format!(
                        "    Personal data removed from included text: {} email addresses, {} phone numbers, {} IBANs, {} @mentions.",
                        m.redactions.emails, m.redactions.phones, m.redactions.ibans, m.redactions.mentions
                    ),
                    format!(
                        "    Mentions of people who objected, replaced in other people's text: {} names, {} handles, {} email addresses, {} phone numbers.",
                        m.objector_mentions.names,
                        m.objector_mentions.handles,
                        m.objector_mentions.emails,
                        m.objector_mentions.phones
                    ),
                    format!(
                        "    Every shard's Merkle root is recorded in the provider's hash-chained ledger (head: {head}); anyone can check inclusion or absence with `veto verify`."
                    ),
                ],
            ]
            .concat(),
            chart: Some(("Excluded items by reason".into(), m.excluded_by_reason.clone())),
        },
    ]
}

/// Renders the summary.
pub fn render(input: &ReportInput<'_>, format: Format) -> String {
    let title = format!(
        "Public summary of training content: snapshot {}",
        input.manifest.snapshot_id
    );
    let mut out = String::new();
    match format {
        Format::Markdown => {
            let _ = writeln!(out, "# {title}\n");
            for s in sections(input) {
                let _ = writeln!(out, "## {}\n", s.title);
                for l in &s.lines {
                    let _ = writeln!(out, "{}", l.trim_start());
                    out.push('\n');
                }
            }
        }
        Format::Html => {
            let _ = write!(
                out,
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <style>body{{font-family:sans-serif;max-width:50rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111}}\
                 svg text{{font-size:12px}}</style></head><body>\n<h1>{}</h1>\n",
                escape(&title),
                escape(&title)
            );
            for s in sections(input) {
                let _ = writeln!(out, "<section><h2>{}</h2>", escape(&s.title));
                for l in &s.lines {
                    let _ = writeln!(out, "<p>{}</p>", escape(l.trim_start()));
                }
                if let Some((caption, data)) = &s.chart {
                    out.push_str(&bar_chart(caption, data));
                }
                out.push_str("</section>\n");
            }
            out.push_str("</body></html>\n");
        }
    }
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart as inline SVG (no script, no external resources).
fn bar_chart(caption: &str, data: &BTreeMap<String, u64>) -> String {
    let max = data.values().copied().max().unwrap_or(0).max(1);
    let (row, label_w, bar_w) = (22, 150, 380);
    let height = row * data.len() + 10;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg role=\"img\" aria-label=\"{}\" width=\"{}\" height=\"{height}\" viewBox=\"0 0 {} {height}\">",
        escape(caption),
        escape(caption),
        label_w + bar_w + 80,
        label_w + bar_w + 80
    );
    for (i, (label, n)) in data.iter().enumerate() {
        let y = i * row + 5;
        let w = (*n as f64 / max as f64 * bar_w as f64).round() as u64;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><rect x=\"{label_w}\" y=\"{y}\" width=\"{w}\" height=\"16\" fill=\"#2b5797\"/><text x=\"{}\" y=\"{}\">{n}</text>",
            label_w - 6,
            y + 13,
            escape(label),
            label_w as u64 + w + 6,
            y + 13
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}
