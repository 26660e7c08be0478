//! The ledger export: JSON Lines, one entry per line in order, and a last
//! line `{"head": {...}}` with the signed head (docs/ledger.md).

use std::io::Write;
use std::path::Path;

use veto_core::ledger::{Entry, Head};

use crate::{AuditError, io};

/// The export as text.
pub fn to_jsonl(entries: &[Entry], head: &Head) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&serde_json::to_string(e).expect("entry serialises"));
        out.push('\n');
    }
    out.push_str(&serde_json::json!({ "head": head }).to_string());
    out.push('\n');
    out
}

/// Writes the export atomically (temp name, fsync, rename).
pub fn write(path: &Path, entries: &[Entry], head: &Head) -> Result<(), AuditError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(to_jsonl(entries, head).as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads an export; errors name the line.
pub fn read(path: &Path) -> Result<(Vec<Entry>, Head), AuditError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let bad = |line: usize, message: String| AuditError::Format {
        path: path.to_path_buf(),
        message: format!("line {line}: {message}"),
    };
    let mut entries = Vec::new();
    let mut head = None;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if head.is_some() {
            return Err(bad(i + 1, "content after the head line".into()));
        }
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(i + 1, e.to_string()))?;
        if let Some(h) = value.get("head") {
            head = Some(serde_json::from_value(h.clone()).map_err(|e| bad(i + 1, format!("head: {e}")))?);
        } else {
            entries.push(serde_json::from_value(value).map_err(|e| bad(i + 1, format!("entry: {e}")))?);
        }
    }
    let head = head.ok_or_else(|| bad(text.lines().count(), "no signed head line at the end".into()))?;
    Ok((entries, head))
}

/// The `snapshot_built` entry of a snapshot, if the ledger has one.
pub fn snapshot_entry<'a>(entries: &'a [Entry], snapshot_id: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| e.kind == "snapshot_built" && e.payload["snapshot_id"] == snapshot_id)
}
