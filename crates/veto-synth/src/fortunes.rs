//! Real German text for training and evaluation: Debian's `fortunes-de`
//! quotes turned into a platform export, each author a person and each
//! quote a public post. The text is read from the installed package, never
//! shipped with veto.

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::json;

use crate::GenerateError;

/// Where Debian installs the UTF-8 quote files.
pub const DEFAULT_DIR: &str = "/usr/share/games/fortunes/de";

/// One quote and its author (`None` if unattributed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    pub text: String,
    pub author: Option<String>,
}

/// Parses one fortune file: quotes separated by `%` lines, an attribution
/// as a last line of the form `<whitespace>-- Author (note)`.
pub fn parse(text: &str) -> Vec<Quote> {
    text.split("\n%\n")
        .filter_map(|chunk| {
            let mut lines: Vec<&str> = chunk.trim_end_matches('%').lines().collect();
            let author = match lines.last() {
                Some(l) if l.trim_start().starts_with("-- ") && l.starts_with(char::is_whitespace) => {
                    let name = l.trim_start().trim_start_matches("-- ").trim();
                    let name = name.split(" (").next().unwrap_or(name).trim().to_string();
                    lines.pop();
                    (!name.is_empty()).then_some(name)
                }
                _ => None,
            };
            let body = lines
                .iter()
                .map(|l| l.trim())
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_string();
            (!body.is_empty()).then_some(Quote { text: body, author })
        })
        .collect()
}

/// Reads every `*.u8` file in `dir` and writes a JSON Lines export to `out`.
/// Returns (persons, items).
pub fn convert(dir: &Path, out: &Path) -> Result<(u64, u64), GenerateError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| GenerateError::Io { path, source }
    };
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "u8"))
        .collect();
    files.sort();
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut persons: BTreeMap<String, String> = BTreeMap::new();
    let items_path = out.join("items.jsonl");
    let mut items = BufWriter::new(std::fs::File::create(&items_path).map_err(io(&items_path))?);
    let mut n = 0u64;
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(io(file))?;
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (i, q) in parse(&text).into_iter().enumerate() {
            let author = q.author.unwrap_or_else(|| "Unbekannt".to_string());
            let next_id = format!("author-{:05}", persons.len());
            let person_id = persons.entry(author).or_insert(next_id).clone();
            let created = chrono::DateTime::from_timestamp(1_704_067_200 + n as i64 * 60, 0).expect("in range");
            let line = json!({
                "item_id": format!("fortune-{stem}-{i:05}"), "person_id": person_id, "platform": "facebook",
                "kind": "post", "audience": "public", "created_at": created.to_rfc3339(), "deleted_at": null,
                "text": q.text, "media_uri": null, "media_sha256": null, "lang": "de",
            });
            writeln!(items, "{line}").map_err(io(&items_path))?;
            n += 1;
        }
    }
    items.flush().map_err(io(&items_path))?;
    let persons_path = out.join("persons.jsonl");
    let mut p = BufWriter::new(std::fs::File::create(&persons_path).map_err(io(&persons_path))?);
    for (name, id) in &persons {
        let line =
            json!({"person_id": id, "birth_date": "1950-01-01", "country": "DE", "display_name": name, "handles": []});
        writeln!(p, "{line}").map_err(io(&persons_path))?;
    }
    p.flush().map_err(io(&persons_path))?;
    Ok((persons.len() as u64, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_authors_are_split_as_a_reader_would() {
        let text = "Man muß wissen, daß Stoff und Form\nverbunden sind.\n\t\t-- Pierre Abélard (Logica)\n%\nOhne Autor.\n%\nZweite Zeile\n\t\t-- Dean Acheson\n%\n";
        assert_eq!(
            parse(text),
            vec![
                Quote {
                    text: "Man muß wissen, daß Stoff und Form verbunden sind.".into(),
                    author: Some("Pierre Abélard".into())
                },
                Quote {
                    text: "Ohne Autor.".into(),
                    author: None
                },
                Quote {
                    text: "Zweite Zeile".into(),
                    author: Some("Dean Acheson".into())
                },
            ]
        );
    }
}
