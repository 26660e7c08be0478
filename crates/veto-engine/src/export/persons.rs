//! The persons table: loaded whole and validated; it is the small side of
//! the build's join.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use chrono::{DateTime, NaiveDate, Utc};

use datafusion::arrow::array::{ArrayBuilder, AsArray, ListArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use serde_json::json;

use super::columns::{DateColumn, Expect, check_schema, text};
use super::json::{Lines, check_known, opt_str, opt_str_list, parse_object};
use super::{Rejections, TableFile, TableFormat, plausible};
use crate::error::BuildError;

const COLUMNS: &[(&str, Expect)] = &[
    ("person_id", Expect::Text),
    ("birth_date", Expect::Date),
    ("country", Expect::Text),
    ("display_name", Expect::Text),
    ("handles", Expect::TextList),
];
const FIELDS: &[&str] = &["person_id", "birth_date", "country", "display_name", "handles"];

/// The valid persons of an export, in file order. Kept compact, since a
/// large platform has millions: ids in one Arrow string buffer, countries as
/// two bytes, and an index from a 64-bit hash of the id to its position
/// (the rare ids whose hash collides with an earlier one go to `collisions`).
#[derive(Default)]
pub struct Persons {
    ids: StringBuilder,
    /// Birth date as days since 1970-01-01, if known.
    birth_days: Vec<Option<i32>>,
    countries: Vec<Option<[u8; 2]>>,
    /// Row of each person in the file, for duplicate reports.
    rows: Vec<u64>,
    index: HashMap<u64, u32, BuildHasherDefault<Prehashed>>,
    collisions: HashMap<String, u32>,
    hasher: std::hash::RandomState,
}

impl std::fmt::Debug for Persons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Persons({})", self.len())
    }
}

/// The index's keys are already hashes of the ids (keyed per process):
/// hashing them again only costs time on every lookup.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; fold anything else in all the same.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The persons with the shard and objection slot of each, looked up by id
/// by the build's query (`veto_person`); a person's position is their
/// `person_idx`.
pub struct PersonTable {
    persons: Persons,
    shards: Vec<u32>,
    objection_slots: Vec<Option<u32>>,
    /// As dates once here, not once per item.
    birth_dates: Vec<Option<chrono::NaiveDate>>,
}

impl PersonTable {
    /// The position of `person_id`, if they are in the table.
    pub fn position(&self, person_id: &str) -> Option<u32> {
        self.persons.find(person_id)
    }

    pub fn shard(&self, position: u32) -> u32 {
        self.shards[position as usize]
    }

    pub fn objection_slot(&self, position: u32) -> Option<u32> {
        self.objection_slots[position as usize]
    }

    pub fn birth_date(&self, position: u32) -> Option<chrono::NaiveDate> {
        self.birth_dates[position as usize]
    }

    pub fn country(&self, position: u32) -> Option<&str> {
        self.persons.countries[position as usize]
            .as_ref()
            .map(|c| std::str::from_utf8(c).expect("validated as two capital letters"))
    }

    /// Every person id, in position order.
    pub fn ids(&self) -> StringArray {
        self.persons.ids.finish_cloned()
    }
}

/// One person as read, before validation.
struct RawPerson<'a> {
    person_id: Option<&'a str>,
    birth_date: Result<Option<i32>, String>,
    country: Option<&'a str>,
}

impl Persons {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn id(&self, position: u32) -> &str {
        let offsets = self.ids.offsets_slice();
        let (start, end) = (
            offsets[position as usize] as usize,
            offsets[position as usize + 1] as usize,
        );
        std::str::from_utf8(&self.ids.values_slice()[start..end]).expect("ids are pushed as str")
    }

    fn find(&self, person_id: &str) -> Option<u32> {
        match self.index.get(&self.hasher.hash_one(person_id)) {
            None => None,
            Some(&position) if self.id(position) == person_id => Some(position),
            Some(_) => self.collisions.get(person_id).copied(),
        }
    }

    pub fn contains(&self, person_id: &str) -> bool {
        self.find(person_id).is_some()
    }

    /// The persons as the build's query looks them up, with what the build
    /// derives once per person rather than once per item: the shard (from
    /// `shards`, a keyed hash) and the slot of the person's objections (from
    /// `slots`, a binary search), both spread over the threads.
    pub fn into_table(
        mut self,
        shards: impl Fn(&str) -> u32 + Sync,
        slots: impl Fn(&str) -> Option<u32> + Sync,
        threads: usize,
    ) -> PersonTable {
        let part = self.len().div_ceil(threads.max(1)).max(1);
        let per_person: Vec<(u32, Option<u32>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..self.len())
                .step_by(part)
                .map(|start| {
                    let (persons, shards, slots) = (&self, &shards, &slots);
                    scope.spawn(move || {
                        (start..(start + part).min(persons.len()))
                            .map(|i| {
                                let id = persons.id(i as u32);
                                (shards(id), slots(id))
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("shard thread"))
                .collect()
        });
        let (shard_values, objection_slots) = per_person.into_iter().unzip();
        // File rows only name duplicates while loading; birth days become dates.
        self.rows = Vec::new();
        let birth_dates = std::mem::take(&mut self.birth_days)
            .into_iter()
            .map(|d| d.map(veto_core::time::from_days))
            .collect();
        PersonTable {
            shards: shard_values,
            objection_slots,
            birth_dates,
            persons: self,
        }
    }

    /// Checks one person; on success returns the id, birth day and
    /// country to keep, on failure the field and message.
    fn check<'a>(&self, table: &TableFile, raw: &RawPerson<'a>, as_of: NaiveDate) -> Result<Checked<'a>, FieldFailure> {
        let person_id = match raw.person_id {
            Some(id) if !id.trim().is_empty() => id,
            _ => return Err(("person_id", "is required and must not be empty".into())),
        };
        if let Some(first) = self.find(person_id) {
            let message = format!(
                "duplicate person_id {person_id:?} (first at {} {})",
                table.row_label(),
                self.rows[first as usize]
            );
            return Err(("person_id", message));
        }
        let birth = raw.birth_date.clone().map_err(|m| ("birth_date", m))?;
        if let Some(days) = birth {
            plausible::birth_date(days, as_of).map_err(|m| ("birth_date", m))?;
        }
        let country = match raw.country {
            None => None,
            Some(c) => {
                veto_core::country::check(c).map_err(|m| ("country", m))?;
                Some([c.as_bytes()[0], c.as_bytes()[1]])
            }
        };
        Ok((person_id, birth, country))
    }

    fn add(
        &mut self,
        table: &TableFile,
        row: u64,
        raw: RawPerson<'_>,
        as_of: NaiveDate,
        rejections: &mut Rejections,
    ) -> Result<(), BuildError> {
        let (person_id, birth, country) = match self.check(table, &raw, as_of) {
            Ok(checked) => checked,
            Err((field, message)) => {
                let record = json!({"person_id": raw.person_id, "country": raw.country});
                return rejections.reject(table.error_at(Some(row), Some(field), message), record, true);
            }
        };
        let position = self.len() as u32;
        let hash = self.hasher.hash_one(person_id);
        match self.index.entry(hash) {
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collisions.insert(person_id.to_string(), position);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(position);
            }
        }
        self.ids.append_value(person_id);
        self.birth_days.push(birth);
        self.countries.push(country);
        self.rows.push(row);
        Ok(())
    }
}

/// What [`Persons::check`] keeps of a good person: id, birth day, country.
type Checked<'a> = (&'a str, Option<i32>, Option<[u8; 2]>);
/// A bad field of a person and what is wrong with it.
type FieldFailure = (&'static str, String);

/// Reads and validates the persons table. Birth dates after the build's
/// `as_of` (or before 1900) are refused, see `plausible::birth_date`.
pub fn load_persons(
    table: &TableFile,
    as_of: DateTime<Utc>,
    rejections: &mut Rejections,
) -> Result<Persons, BuildError> {
    load_persons_naming(table, as_of, rejections, &Default::default()).map(|(persons, _)| persons)
}

/// How a person is named on the platform, kept for the persons in
/// `wanted` (the objectors, whose names are redacted in others' text).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The person's row in the persons table (and so in the build's tally).
    pub index: u32,
    pub person_id: String,
    pub display_name: Option<String>,
    pub handles: Vec<String>,
}

/// [`load_persons`], also returning the names of the persons in `wanted`
/// (in file order), read in the same pass.
pub fn load_persons_naming(
    table: &TableFile,
    as_of: DateTime<Utc>,
    rejections: &mut Rejections,
    wanted: &datafusion::common::HashSet<String>,
) -> Result<(Persons, Vec<Named>), BuildError> {
    let mut persons = Persons::default();
    let mut named = Vec::new();
    let file = std::fs::File::open(&table.path).map_err(BuildError::io(&table.path))?;
    let as_of = as_of.date_naive();
    let mut load = Load {
        table,
        as_of,
        persons: &mut persons,
        rejections,
        wanted,
        named: &mut named,
    };
    match table.format {
        TableFormat::JsonLines => load.json(file)?,
        TableFormat::Parquet => load.parquet(file)?,
    }
    Ok((persons, named))
}

/// The state of one [`load_persons_naming`].
struct Load<'a> {
    table: &'a TableFile,
    as_of: NaiveDate,
    persons: &'a mut Persons,
    rejections: &'a mut Rejections,
    wanted: &'a datafusion::common::HashSet<String>,
    named: &'a mut Vec<Named>,
}

impl Load<'_> {
    /// Adds a person, and keeps their names if they are wanted.
    fn add(
        &mut self,
        row: u64,
        raw: RawPerson<'_>,
        names: impl FnOnce() -> (Option<String>, Vec<String>),
    ) -> Result<(), BuildError> {
        let before = self.persons.len();
        // Copied only for the few wanted (objectors), not for every person.
        let id = raw.person_id.filter(|id| self.wanted.contains(*id)).map(str::to_string);
        self.persons.add(self.table, row, raw, self.as_of, self.rejections)?;
        if self.persons.len() > before
            && let Some(id) = id
        {
            let (display_name, handles) = names();
            self.named.push(Named {
                index: before as u32,
                person_id: id,
                display_name,
                handles,
            });
        }
        Ok(())
    }

    fn json(&mut self, file: std::fs::File) -> Result<(), BuildError> {
        let table = self.table;
        let mut lines = Lines::new(std::io::BufReader::new(file));
        while let Some((row, line)) = lines.next_line().map_err(BuildError::io(&table.path))? {
            let line = match line {
                Ok(line) => line,
                Err(bad) => {
                    self.rejections
                        .reject(table.error_at(Some(row), None, bad.message), json!(bad.lossy), true)?;
                    continue;
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let parsed = parse_object(line).and_then(|map| {
                check_known(&map, FIELDS)?;
                opt_str_list(&map, "handles")?;
                opt_str(&map, "display_name")?;
                Ok(map)
            });
            let map = match parsed {
                Ok(map) => map,
                Err((field, message)) => {
                    let field = (!field.is_empty()).then_some(field.as_str());
                    self.rejections
                        .reject(table.error_at(Some(row), field, message), json!(line), true)?;
                    continue;
                }
            };
            let strings = (
                opt_str(&map, "person_id"),
                opt_str(&map, "country"),
                opt_str(&map, "birth_date"),
            );
            let (person_id, country, birth) = match strings {
                (Ok(p), Ok(c), Ok(b)) => (p, c, b),
                (Err((f, m)), _, _) | (_, Err((f, m)), _) | (_, _, Err((f, m))) => {
                    self.rejections
                        .reject(table.error_at(Some(row), Some(&f), m), json!(line), true)?;
                    continue;
                }
            };
            let birth_date = birth
                .map(|b| veto_core::time::parse_date(b).map(veto_core::time::to_days))
                .transpose();
            let raw = RawPerson {
                person_id,
                birth_date,
                country,
            };
            let names = || {
                let display = opt_str(&map, "display_name").ok().flatten().map(str::to_string);
                (display, opt_str_list(&map, "handles").unwrap_or_default())
            };
            self.add(row, raw, names)?;
        }
        Ok(())
    }

    fn parquet(&mut self, file: std::fs::File) -> Result<(), BuildError> {
        let table = self.table;
        let builder = super::open_parquet(table, file)?;
        check_schema(table, builder.schema(), COLUMNS, &["person_id"])?;
        let mut row = 0u64;
        let reader = builder.with_batch_size(8192).build().map_err(|e| table.damaged(0, e))?;
        for batch in super::decoded(reader) {
            let batch = batch.map_err(|e| table.damaged(row, e))?;
            let ids = text(&batch, "person_id")?;
            let countries = text(&batch, "country")?;
            let births = DateColumn::read(&batch, "birth_date")?;
            // Names are read only for wanted persons, and only if some are.
            let (displays, handles) = match self.wanted.is_empty() {
                true => (None, None),
                false => (Some(text(&batch, "display_name")?), handle_lists(&batch)?),
            };
            for i in 0..batch.num_rows() {
                row += 1;
                let raw = RawPerson {
                    person_id: ids.is_valid_at(i),
                    birth_date: births.get(i),
                    country: countries.is_valid_at(i),
                };
                let names = || {
                    let display = displays.as_ref().and_then(|d| d.is_valid_at(i)).map(str::to_string);
                    (display, handles.as_ref().map(|h| list_at(h, i)).unwrap_or_default())
                };
                self.add(row, raw, names)?;
            }
        }
        Ok(())
    }
}

/// The `handles` column as a list of strings, if the file has it.
fn handle_lists(batch: &datafusion::arrow::array::RecordBatch) -> Result<Option<ListArray>, BuildError> {
    match batch.column_by_name("handles") {
        Some(list) if list.data_type() != &DataType::Null => {
            let list = datafusion::arrow::compute::cast(list, &super::items::tagged_type())?;
            Ok(Some(list.as_list::<i32>().clone()))
        }
        _ => Ok(None),
    }
}

fn list_at(list: &ListArray, i: usize) -> Vec<String> {
    use datafusion::arrow::array::Array;
    if !list.is_valid(i) {
        return Vec::new();
    }
    let values = list.values().as_string::<i32>();
    let offsets = list.value_offsets();
    (offsets[i] as usize..offsets[i + 1] as usize)
        .filter(|&j| values.is_valid(j))
        .map(|j| values.value(j).to_string())
        .collect()
}

/// `Some(value)` where the cell is not null.
pub(crate) trait OptionalValue {
    fn is_valid_at(&self, i: usize) -> Option<&str>;
}

impl OptionalValue for StringArray {
    fn is_valid_at(&self, i: usize) -> Option<&str> {
        use datafusion::arrow::array::Array;
        self.is_valid(i).then(|| self.value(i))
    }
}
