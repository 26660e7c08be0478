//! The ledger export: JSON Lines, one entry per line in order, and a last
//! line `{"head": {...}}` with the signed head (docs/ledger.md).

use std::io::Write;
use std::path::Path;

use veto_core::ledger::{Entry, ExportLine, Head, head_line, parse_export_line};

use crate::{AuditError, io};

/// The export as text: each entry's line in its format (JCS from format 2
/// on), then the head line.
pub fn to_jsonl(entries: &[Entry], head: &Head) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&e.to_line());
        out.push('\n');
    }
    out.push_str(&head_line(head));
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

/// Reads an export strictly (see [`parse_export_line`]: duplicate keys,
/// unknown fields and lines not in veto's canonical form are refused);
/// errors name the line.
pub fn read(path: &Path) -> Result<(Vec<Entry>, Head), AuditError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    parse(&text).map_err(|message| AuditError::Format {
        path: path.to_path_buf(),
        message,
    })
}

/// [`read`] of text in memory.
pub fn parse(text: &str) -> Result<(Vec<Entry>, Head), String> {
    let mut entries = Vec::new();
    let mut head = None;
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        if head.is_some() {
            return Err(format!("line {}: content after the head line", i + 1));
        }
        match parse_export_line(line).map_err(|e| format!("line {}: {e}", i + 1))? {
            ExportLine::Entry(e) => entries.push(e),
            ExportLine::Head(h) => head = Some(h),
        }
    }
    let head = head.ok_or_else(|| format!("line {}: no signed head line at the end", text.lines().count()))?;
    Ok((entries, head))
}

/// The `snapshot_built` entry of a snapshot, if the ledger has one.
pub fn snapshot_entry<'a>(entries: &'a [Entry], snapshot_id: &str) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| e.kind == "snapshot_built" && e.payload["snapshot_id"] == snapshot_id)
}
