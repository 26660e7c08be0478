//! Writing the generated platform: Parquet (the fast path) or JSON Lines,
//! each file under a temporary name, fsynced and renamed into place.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Date32Builder, ListBuilder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use serde_json::json;
use veto_core::Objection;

use crate::{GenerateError, Item, Person, Version};

/// The encoding of the generated tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Parquet,
    JsonLines,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError + '_ {
    move |source| GenerateError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A file written under `<name>.tmp` and renamed on [`AtomicFile::commit`].
struct AtomicFile {
    tmp: PathBuf,
    path: PathBuf,
}

impl AtomicFile {
    fn create(path: PathBuf) -> Result<(AtomicFile, File), GenerateError> {
        let tmp = path.with_extension("tmp");
        let file = File::create(&tmp).map_err(io(&tmp))?;
        Ok((AtomicFile { tmp, path }, file))
    }

    fn commit(self, file: File) -> Result<(), GenerateError> {
        file.sync_all().map_err(io(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io(&self.path))
    }
}

fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("valid level")))
        .build()
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn items_schema(version: Version) -> SchemaRef {
    let s = |n: &str, null: bool| Field::new(n, DataType::Utf8, null);
    let mut fields = vec![
        s("item_id", false),
        s("person_id", false),
        s("platform", false),
        s("kind", false),
        s("audience", false),
        Field::new("created_at", timestamp(), false),
        Field::new("deleted_at", timestamp(), true),
        s("text", true),
        s("media_uri", true),
        s("media_sha256", true),
        s("lang", true),
    ];
    if version == Version::V1_1 {
        let item = Arc::new(Field::new("item", DataType::Utf8, true));
        fields.push(Field::new("tagged", DataType::List(item), true));
        fields.push(s("usage", true));
    }
    Arc::new(Schema::new(fields))
}

enum Sink {
    Parquet(Box<ArrowWriter<File>>, Vec<Item>),
    Json(BufWriter<File>),
}

/// Streams items to `items.parquet` or `items.jsonl`.
pub struct ItemWriter {
    file: AtomicFile,
    sink: Sink,
    version: Version,
}

const BATCH: usize = 65_536;

impl ItemWriter {
    pub fn create(dir: &Path, format: Format, version: Version) -> Result<ItemWriter, GenerateError> {
        let name = match format {
            Format::Parquet => "items.parquet",
            Format::JsonLines => "items.jsonl",
        };
        let (atomic, file) = AtomicFile::create(dir.join(name))?;
        let sink = match format {
            Format::Parquet => Sink::Parquet(
                Box::new(ArrowWriter::try_new(file, items_schema(version), Some(props()))?),
                Vec::new(),
            ),
            Format::JsonLines => Sink::Json(BufWriter::new(file)),
        };
        Ok(ItemWriter {
            file: atomic,
            sink,
            version,
        })
    }

    pub fn push(&mut self, item: Item) -> Result<(), GenerateError> {
        match &mut self.sink {
            Sink::Parquet(writer, buffer) => {
                buffer.push(item);
                if buffer.len() >= BATCH {
                    writer.write(&items_batch(buffer, self.version)?)?;
                    buffer.clear();
                }
            }
            Sink::Json(out) => {
                let mut line = json!({
                    "item_id": item.item_id, "person_id": item.person_id, "platform": item.platform,
                    "kind": item.kind, "audience": item.audience, "created_at": item.created_at.to_rfc3339(),
                    "deleted_at": item.deleted_at.map(|d| d.to_rfc3339()), "text": item.text,
                    "media_uri": item.media_uri, "media_sha256": item.media_sha256, "lang": item.lang,
                });
                if self.version == Version::V1_1 {
                    line["tagged"] = match item.tagged.is_empty() {
                        true => serde_json::Value::Null,
                        false => json!(item.tagged),
                    };
                    line["usage"] = json!(item.usage);
                }
                writeln!(out, "{line}").map_err(io(&self.file.tmp))?;
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Result<(), GenerateError> {
        let file = match self.sink {
            Sink::Parquet(mut writer, buffer) => {
                if !buffer.is_empty() {
                    writer.write(&items_batch(&buffer, self.version)?)?;
                }
                writer.into_inner()?
            }
            Sink::Json(out) => out.into_inner().map_err(|e| io(&self.file.tmp)(e.into_error()))?,
        };
        self.file.commit(file)
    }
}

fn items_batch(items: &[Item], version: Version) -> Result<RecordBatch, GenerateError> {
    let mut strings: [StringBuilder; 9] = Default::default();
    let mut created = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut deleted = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    for it in items {
        let values = [
            Some(it.item_id.as_str()),
            Some(it.person_id.as_str()),
            Some(it.platform.as_str()),
            Some(it.kind.as_str()),
            Some(it.audience.as_str()),
            it.text.as_deref(),
            it.media_uri.as_deref(),
            it.media_sha256.as_deref(),
            it.lang.as_deref(),
        ];
        for (b, v) in strings.iter_mut().zip(values) {
            b.append_option(v);
        }
        created.append_value(it.created_at.timestamp_micros());
        deleted.append_option(it.deleted_at.map(|d| d.timestamp_micros()));
    }
    let [item_id, person_id, platform, kind, audience, text, uri, sha, lang] = &mut strings;
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(item_id.finish()),
        Arc::new(person_id.finish()),
        Arc::new(platform.finish()),
        Arc::new(kind.finish()),
        Arc::new(audience.finish()),
        Arc::new(created.finish()),
        Arc::new(deleted.finish()),
        Arc::new(text.finish()),
        Arc::new(uri.finish()),
        Arc::new(sha.finish()),
        Arc::new(lang.finish()),
    ];
    if version == Version::V1_1 {
        let mut tagged = ListBuilder::new(StringBuilder::new());
        let mut usage = StringBuilder::new();
        for it in items {
            for id in &it.tagged {
                tagged.values().append_value(id);
            }
            tagged.append(!it.tagged.is_empty());
            usage.append_option(it.usage.as_deref());
        }
        columns.push(Arc::new(tagged.finish()));
        columns.push(Arc::new(usage.finish()));
    }
    Ok(RecordBatch::try_new(items_schema(version), columns)?)
}

/// Writes `persons.parquet` or `persons.jsonl`.
pub fn persons(dir: &Path, format: Format, people: &[Person]) -> Result<(), GenerateError> {
    match format {
        Format::JsonLines => {
            let (atomic, file) = AtomicFile::create(dir.join("persons.jsonl"))?;
            let mut out = BufWriter::new(file);
            for p in people {
                let line = json!({
                    "person_id": p.person_id, "birth_date": p.birth_date.map(|d| d.to_string()),
                    "country": p.country, "display_name": p.display_name, "handles": p.handles,
                });
                writeln!(out, "{line}").map_err(io(&atomic.tmp))?;
            }
            let file = out.into_inner().map_err(|e| io(&atomic.tmp)(e.into_error()))?;
            atomic.commit(file)
        }
        Format::Parquet => {
            let schema = Arc::new(Schema::new(vec![
                Field::new("person_id", DataType::Utf8, false),
                Field::new("birth_date", DataType::Date32, true),
                Field::new("country", DataType::Utf8, true),
                Field::new("display_name", DataType::Utf8, true),
                Field::new(
                    "handles",
                    DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                    true,
                ),
            ]));
            let (atomic, file) = AtomicFile::create(dir.join("persons.parquet"))?;
            let mut writer = ArrowWriter::try_new(file, schema.clone(), Some(props()))?;
            for chunk in people.chunks(BATCH) {
                let (mut id, mut birth, mut country, mut name) = (
                    StringBuilder::new(),
                    Date32Builder::new(),
                    StringBuilder::new(),
                    StringBuilder::new(),
                );
                let mut handles = ListBuilder::new(StringBuilder::new());
                for p in chunk {
                    id.append_value(&p.person_id);
                    birth.append_option(p.birth_date.map(veto_core::time::to_days));
                    country.append_option(p.country.as_deref());
                    name.append_option(p.display_name.as_deref());
                    handles.append_value(p.handles.iter().map(Some));
                }
                let columns: Vec<ArrayRef> = vec![
                    Arc::new(id.finish()),
                    Arc::new(birth.finish()),
                    Arc::new(country.finish()),
                    Arc::new(name.finish()),
                    Arc::new(handles.finish()),
                ];
                writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
            }
            atomic.commit(writer.into_inner()?)
        }
    }
}

/// Writes `objections.jsonl` in the format `veto objections import` reads.
pub fn objections(dir: &Path, objections: &[Objection]) -> Result<(), GenerateError> {
    let (atomic, file) = AtomicFile::create(dir.join("objections.jsonl"))?;
    let mut out = BufWriter::new(file);
    for o in objections {
        let line = json!({
            "objection_id": o.objection_id, "person_id": o.person_id, "scope": o.scope,
            "filed_at": o.filed_at.to_rfc3339(), "withdrawn_at": o.withdrawn_at.map(|w| w.to_rfc3339()),
            "channel": o.channel,
        });
        writeln!(out, "{line}").map_err(io(&atomic.tmp))?;
    }
    let file = out.into_inner().map_err(|e| io(&atomic.tmp)(e.into_error()))?;
    atomic.commit(file)
}
