//! The items table: streamed row by row, validated, and staged as Parquet in
//! the build's temporary directory for the query engine. Only valid rows are
//! staged; each keeps its source row number for later error reports.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, ListArray, ListBuilder, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::Compression;
use datafusion::parquet::file::properties::WriterProperties;
use serde::Deserialize;
use serde_json::{Value, json};
use veto_core::{Audience, Kind, Platform};

use super::columns::{Expect, InstantColumn, RawInstant, check_schema, text};
use super::json::Lines;
use super::json::{check_known, opt_str, opt_str_list, parse_object};
use super::persons::OptionalValue;
use super::{Persons, Rejections, TableFile, TableFormat, plausible};
use crate::error::BuildError;

pub(super) const COLUMNS: &[(&str, Expect)] = &[
    ("item_id", Expect::Text),
    ("person_id", Expect::Text),
    ("platform", Expect::Text),
    ("kind", Expect::Text),
    ("audience", Expect::Text),
    ("created_at", Expect::Instant),
    ("deleted_at", Expect::Instant),
    ("text", Expect::Text),
    ("media_uri", Expect::Text),
    ("media_sha256", Expect::Text),
    ("lang", Expect::Text),
    // Export v1.1.
    ("tagged", Expect::TextList),
    ("usage", Expect::Text),
];

/// Columns of export v1.1: a file without them is a v1 file, read as before.
pub(crate) const OPTIONAL_V1_1: [&str; 2] = ["tagged", "usage"];

/// The most persons one item may tag.
pub const MAX_TAGGED: usize = 1_000;
pub(super) const REQUIRED: &[&str] = &["item_id", "person_id", "platform", "kind", "audience", "created_at"];

/// The schema of staged items, as the build queries them.
pub static STAGED_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("row", DataType::UInt64, false),
        Field::new("item_id", DataType::Utf8, false),
        Field::new("person_id", DataType::Utf8, false),
        Field::new("platform", DataType::Utf8, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("audience", DataType::Utf8, false),
        Field::new("created_at", ts.clone(), false),
        Field::new("deleted_at", ts, true),
        Field::new("text", DataType::Utf8, true),
        Field::new("media_sha256", DataType::Utf8, true),
        Field::new("lang", DataType::Utf8, true),
        Field::new("tagged", tagged_type(), true),
        Field::new("usage", DataType::Utf8, true),
    ]))
});

/// The staged (and queryable) type of `tagged`: a list of strings.
pub fn tagged_type() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true)))
}

/// The result of staging: a Parquet file of valid items.
#[derive(Debug)]
pub struct StagedItems {
    pub path: PathBuf,
    /// Rows read from the export, valid or not.
    pub read: u64,
    /// Rows staged (valid).
    pub staged: u64,
    /// Staged item ids that may repeat an earlier one: every repeat is
    /// among them, with a few ids that do not repeat (the filter's false
    /// positives). Sorted, each once. The build checks only these against
    /// the staged copy.
    pub repeat_candidates: Vec<String>,
}

/// One item as read, before validation.
pub struct RawItem<'a> {
    pub(crate) item_id: Option<&'a str>,
    pub(super) person_id: Option<&'a str>,
    pub(super) platform: Option<&'a str>,
    pub(super) kind: Option<&'a str>,
    pub(super) audience: Option<&'a str>,
    pub(super) created_at: RawInstant<'a>,
    pub(super) deleted_at: RawInstant<'a>,
    pub(super) text: Option<&'a str>,
    pub(super) media_sha256: Option<&'a str>,
    pub(super) lang: Option<&'a str>,
    /// None: the field is missing or null.
    pub(super) tagged: Option<Vec<&'a str>>,
    pub(super) usage: Option<&'a str>,
}

impl RawItem<'_> {
    fn to_json(&self) -> Value {
        let instant = |t: &RawInstant<'_>| match t {
            RawInstant::Null => Value::Null,
            RawInstant::Micros(us) => json!(veto_core::time::from_micros(*us).to_rfc3339()),
            RawInstant::Text(s) => json!(s),
        };
        json!({
            "item_id": self.item_id, "person_id": self.person_id, "platform": self.platform,
            "kind": self.kind, "audience": self.audience, "created_at": instant(&self.created_at),
            "deleted_at": instant(&self.deleted_at), "text": self.text,
            "media_sha256": self.media_sha256, "lang": self.lang,
            "tagged": self.tagged, "usage": self.usage,
        })
    }
}

/// The columns of one Parquet batch of items, normalised; a column the
/// batch lacks (not in the file, or not read) reads as null.
pub struct ItemColumns {
    text: [StringArray; 9],
    created_at: InstantColumn,
    deleted_at: InstantColumn,
    tagged: Option<ListArray>,
}

impl ItemColumns {
    pub fn read(batch: &RecordBatch) -> Result<ItemColumns, BuildError> {
        let names = [
            "item_id",
            "person_id",
            "platform",
            "kind",
            "audience",
            "text",
            "media_sha256",
            "lang",
            "usage",
        ];
        let [a, b, c, d, e, f, g, h, u] = names.map(|name| text(batch, name));
        let tagged = match batch.column_by_name("tagged") {
            Some(list) if list.data_type() != &DataType::Null => {
                let list = datafusion::arrow::compute::cast(list, &tagged_type())?;
                Some(list.as_list::<i32>().clone())
            }
            _ => None,
        };
        Ok(ItemColumns {
            text: [a?, b?, c?, d?, e?, f?, g?, h?, u?],
            created_at: InstantColumn::read(batch, "created_at")?,
            deleted_at: InstantColumn::read(batch, "deleted_at")?,
            tagged,
        })
    }

    pub fn row(&self, i: usize) -> RawItem<'_> {
        let [item_id, person_id, platform, kind, audience, text, media, lang, usage] = &self.text;
        let tagged = self.tagged.as_ref().filter(|l| l.is_valid(i)).map(|l| {
            let ids = l.values().as_string::<i32>();
            let offsets = l.value_offsets();
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            // A null inside the list reads as empty, which validation refuses.
            (start..end)
                .map(|j| if ids.is_valid(j) { ids.value(j) } else { "" })
                .collect()
        });
        RawItem {
            item_id: item_id.is_valid_at(i),
            person_id: person_id.is_valid_at(i),
            platform: platform.is_valid_at(i),
            kind: kind.is_valid_at(i),
            audience: audience.is_valid_at(i),
            created_at: self.created_at.get(i),
            deleted_at: self.deleted_at.get(i),
            text: text.is_valid_at(i),
            media_sha256: media.is_valid_at(i),
            lang: lang.is_valid_at(i),
            tagged,
            usage: usage.is_valid_at(i),
        }
    }
}

/// Checks one item; on failure returns the field and message.
pub(super) fn validate(raw: &RawItem<'_>, persons: &Persons) -> Result<(i64, Option<i64>), (&'static str, String)> {
    let instants = validate_fields(raw)?;
    let person_id = raw.person_id.expect("validated as present");
    if !persons.contains(person_id) {
        return Err(("person_id", format!("author {person_id:?} is not in persons")));
    }
    for id in raw.tagged.iter().flatten() {
        if !persons.contains(id) {
            return Err(("tagged", format!("tagged person {id:?} is not in persons")));
        }
    }
    Ok(instants)
}

/// Checks one item on its own, without the persons table (the author's
/// presence is [`validate`]'s job, or the join's); returns its created and
/// deleted instants, or the field and message of the first problem.
pub fn validate_fields(raw: &RawItem<'_>) -> Result<(i64, Option<i64>), (&'static str, String)> {
    fn required<'a>(field: &'static str, v: Option<&'a str>) -> Result<&'a str, (&'static str, String)> {
        match v {
            Some(s) if !s.trim().is_empty() => Ok(s),
            _ => Err((field, "is required and must not be empty".into())),
        }
    }
    fn instant(field: &'static str, t: &RawInstant<'_>) -> Result<Option<i64>, (&'static str, String)> {
        let us = match t {
            RawInstant::Null => return Ok(None),
            RawInstant::Micros(us) => *us,
            RawInstant::Text(s) => veto_core::time::parse_rfc3339(s)
                .map_err(|m| (field, m))?
                .timestamp_micros(),
        };
        plausible::instant_in_range(us).map_err(|m| (field, m))?;
        Ok(Some(us))
    }
    required("item_id", raw.item_id)?;
    required("person_id", raw.person_id)?;
    Platform::from_str(required("platform", raw.platform)?).map_err(|m| ("platform", m))?;
    let kind = Kind::from_str(required("kind", raw.kind)?).map_err(|m| ("kind", m))?;
    let audience = Audience::from_str(required("audience", raw.audience)?).map_err(|m| ("audience", m))?;
    kind.check_audience(audience).map_err(|m| ("audience", m))?;
    let created = instant("created_at", &raw.created_at)?.ok_or(("created_at", "is required".to_string()))?;
    let deleted = instant("deleted_at", &raw.deleted_at)?;
    if let Some(deleted) = deleted {
        plausible::not_before("deleted_at", deleted, "created_at", created).map_err(|m| ("deleted_at", m))?;
    }
    if let Some(sha) = raw.media_sha256
        && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(("media_sha256", format!("{sha:?} is not 64 lowercase hex digits")));
    }
    if let Some(usage) = raw.usage {
        veto_core::Usage::parse(usage).map_err(|e| ("usage", e.to_string()))?;
    }
    if let Some(tagged) = &raw.tagged {
        if tagged.len() > MAX_TAGGED {
            return Err(("tagged", format!("tags {} persons; at most {MAX_TAGGED}", tagged.len())));
        }
        if tagged.iter().any(|id| id.trim().is_empty()) {
            return Err(("tagged", "a tagged person_id is empty".into()));
        }
    }
    Ok((created, deleted))
}

/// Builders for the staged Parquet file, flushed every `FLUSH_ROWS` rows.
struct Stager {
    writer: ArrowWriter<std::fs::File>,
    row: UInt64Builder,
    strings: [StringBuilder; 9],
    tagged: ListBuilder<StringBuilder>,
    created: TimestampMicrosecondBuilder,
    deleted: TimestampMicrosecondBuilder,
    buffered: usize,
    staged: u64,
}

const FLUSH_ROWS: usize = 65_536;

impl Stager {
    fn create(path: &Path) -> Result<Stager, BuildError> {
        let file = std::fs::File::create(path).map_err(BuildError::io(path))?;
        // ItemsStaging is read once, right away: favour write speed over size.
        let props = WriterProperties::builder()
            .set_compression(Compression::LZ4_RAW)
            .build();
        Ok(Stager {
            writer: ArrowWriter::try_new(file, STAGED_SCHEMA.clone(), Some(props))?,
            row: UInt64Builder::new(),
            strings: Default::default(),
            tagged: ListBuilder::new(StringBuilder::new()),
            created: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            deleted: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            buffered: 0,
            staged: 0,
        })
    }

    fn push(&mut self, row: u64, raw: &RawItem<'_>, created: i64, deleted: Option<i64>) -> Result<(), BuildError> {
        self.row.append_value(row);
        let values = [
            raw.item_id,
            raw.person_id,
            raw.platform,
            raw.kind,
            raw.audience,
            raw.text,
            raw.media_sha256,
            raw.lang,
            raw.usage,
        ];
        for (builder, value) in self.strings.iter_mut().zip(values) {
            builder.append_option(value);
        }
        match &raw.tagged {
            Some(ids) => {
                for id in ids {
                    self.tagged.values().append_value(id);
                }
                self.tagged.append(true);
            }
            None => self.tagged.append(false),
        }
        self.created.append_value(created);
        self.deleted.append_option(deleted);
        self.buffered += 1;
        self.staged += 1;
        if self.buffered >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BuildError> {
        if self.buffered == 0 {
            return Ok(());
        }
        let [item_id, person_id, platform, kind, audience, text, media, lang, usage] = &mut self.strings;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.row.finish()),
            Arc::new(item_id.finish()),
            Arc::new(person_id.finish()),
            Arc::new(platform.finish()),
            Arc::new(kind.finish()),
            Arc::new(audience.finish()),
            Arc::new(self.created.finish()),
            Arc::new(self.deleted.finish()),
            Arc::new(text.finish()),
            Arc::new(media.finish()),
            Arc::new(lang.finish()),
            Arc::new(self.tagged.finish()),
            Arc::new(usage.finish()),
        ];
        self.writer
            .write(&RecordBatch::try_new(STAGED_SCHEMA.clone(), columns)?)?;
        self.buffered = 0;
        Ok(())
    }

    fn finish(mut self) -> Result<u64, BuildError> {
        self.flush()?;
        self.writer.close()?;
        Ok(self.staged)
    }
}

/// JSON Lines fast path: one typed parse per line. Any problem falls back to
/// a field-by-field parse that names the offending field.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonItem {
    item_id: Option<String>,
    person_id: Option<String>,
    platform: Option<String>,
    kind: Option<String>,
    audience: Option<String>,
    created_at: Option<String>,
    deleted_at: Option<String>,
    text: Option<String>,
    #[allow(dead_code)]
    media_uri: Option<String>,
    media_sha256: Option<String>,
    lang: Option<String>,
    tagged: Option<Vec<String>>,
    usage: Option<String>,
}

fn instant(s: &Option<String>) -> RawInstant<'_> {
    s.as_deref().map_or(RawInstant::Null, RawInstant::Text)
}

fn json_field_error(line: &str) -> (String, String) {
    let map = match parse_object(line) {
        Ok(map) => map,
        Err(e) => return e,
    };
    if let Err(e) = check_known(&map, &COLUMNS.iter().map(|(n, _)| *n).collect::<Vec<_>>()) {
        return e;
    }
    for (name, expect) in COLUMNS {
        let checked = match expect {
            Expect::TextList => opt_str_list(&map, name).map(|_| ()),
            _ => opt_str(&map, name).map(|_| ()),
        };
        if let Err(e) = checked {
            return e;
        }
    }
    (String::new(), "record does not match the items format".into())
}

/// Streams the items table into `staging_path`, validating every row.
pub fn stage_items(
    table: &TableFile,
    persons: &Persons,
    rejections: &mut Rejections,
    staging_path: &Path,
    progress: &indicatif::ProgressBar,
) -> Result<StagedItems, BuildError> {
    let stager = Stager::create(staging_path)?;
    let file = std::fs::File::open(&table.path).map_err(BuildError::io(&table.path))?;
    // An estimate of the rows from the file size; one too low only adds
    // false positives, which the exact check of the candidates clears.
    let size = file.metadata().map_err(BuildError::io(&table.path))?.len();
    let mut staging = ItemsStaging {
        table,
        persons,
        rejections,
        stager,
        seen: super::SeenIds::with_expected(size / 32),
        repeat_candidates: Vec::new(),
        read: 0,
    };
    match table.format {
        TableFormat::JsonLines => staging.json_lines(file, progress)?,
        TableFormat::Parquet => staging.parquet(file, progress)?,
    }
    let ItemsStaging {
        stager,
        mut repeat_candidates,
        read,
        ..
    } = staging;
    let staged = stager.finish()?;
    // An id seen three times is a candidate twice.
    repeat_candidates.sort_unstable();
    repeat_candidates.dedup();
    Ok(StagedItems {
        path: staging_path.to_path_buf(),
        read,
        staged,
        repeat_candidates,
    })
}

/// The state of [`stage_items`] while it reads.
struct ItemsStaging<'a> {
    table: &'a TableFile,
    persons: &'a Persons,
    rejections: &'a mut Rejections,
    stager: Stager,
    seen: super::SeenIds,
    repeat_candidates: Vec<String>,
    read: u64,
}

impl ItemsStaging<'_> {
    /// Stages one row, or rejects it.
    fn handle(&mut self, row: u64, raw: RawItem<'_>) -> Result<(), BuildError> {
        match validate(&raw, self.persons) {
            Ok((created, deleted)) => {
                if let Some(id) = raw.item_id
                    && self.seen.insert(id)
                {
                    self.repeat_candidates.push(id.to_string());
                }
                self.stager.push(row, &raw, created, deleted)
            }
            Err((field, message)) => {
                let error = self.table.error_at(Some(row), Some(field), message);
                self.rejections.reject(error, raw.to_json(), false)
            }
        }
    }

    fn json_lines(&mut self, file: std::fs::File, progress: &indicatif::ProgressBar) -> Result<(), BuildError> {
        let table = self.table;
        let mut lines = Lines::new(std::io::BufReader::with_capacity(1 << 20, file));
        while let Some((row, line)) = lines.next_line().map_err(BuildError::io(&table.path))? {
            let line = match line {
                Ok(line) if line.trim().is_empty() => continue,
                Ok(line) => line,
                Err(bad) => {
                    self.read += 1;
                    let error = table.error_at(Some(row), None, bad.message);
                    self.rejections.reject(error, Value::String(bad.lossy), false)?;
                    continue;
                }
            };
            self.read += 1;
            let item: JsonItem = match serde_json::from_str(line) {
                Ok(item) => item,
                Err(_) => {
                    let (field, message) = json_field_error(line);
                    let field = (!field.is_empty()).then_some(field.as_str());
                    let record = serde_json::from_str(line).unwrap_or_else(|_| Value::String(line.to_string()));
                    self.rejections
                        .reject(table.error_at(Some(row), field, message), record, false)?;
                    continue;
                }
            };
            let raw = RawItem {
                item_id: item.item_id.as_deref(),
                person_id: item.person_id.as_deref(),
                platform: item.platform.as_deref(),
                kind: item.kind.as_deref(),
                audience: item.audience.as_deref(),
                created_at: instant(&item.created_at),
                deleted_at: instant(&item.deleted_at),
                text: item.text.as_deref(),
                media_sha256: item.media_sha256.as_deref(),
                lang: item.lang.as_deref(),
                tagged: item.tagged.as_ref().map(|t| t.iter().map(String::as_str).collect()),
                usage: item.usage.as_deref(),
            };
            self.handle(row, raw)?;
            if self.read.is_multiple_of(65_536) {
                progress.set_position(self.read);
            }
        }
        Ok(())
    }

    fn parquet(&mut self, file: std::fs::File, progress: &indicatif::ProgressBar) -> Result<(), BuildError> {
        let table = self.table;
        let builder = super::open_parquet(table, file)?;
        check_schema(table, builder.schema(), COLUMNS, REQUIRED)?;
        let reader = builder.with_batch_size(8192).build().map_err(|e| table.damaged(0, e))?;
        for batch in super::decoded(reader) {
            let batch = batch.map_err(|e| table.damaged(self.read, e))?;
            let columns = ItemColumns::read(&batch)?;
            for i in 0..batch.num_rows() {
                self.read += 1;
                self.handle(self.read, columns.row(i))?;
            }
            progress.set_position(self.read);
        }
        Ok(())
    }
}
