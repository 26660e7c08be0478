//! The build's scalar functions, registered with DataFusion. Each wraps one
//! function of veto-core, so the engine applies exactly the core's rules.
//!
//! * `veto_person(person_id)` → UInt32: the author's position in the
//!   persons table (`person_idx`). An author missing from persons fails the
//!   query, as a failed row check does. This lookup replaces a hash join:
//!   every item has exactly one author, and the join copied every item
//!   column once more to pair it with the person's.
//! * `veto_reason(person_idx, platform, kind, audience, created_at, deleted_at,
//!   tagged, usage)` → UInt8: 0 if the item is included, else
//!   `Reason::code() + 1`. The author's and the tagged persons' facts and
//!   objections come from the persons table. A `usage` that does not parse
//!   or a tagged person missing from persons fails the query (only an
//!   export read in place can hold one; the build then names the row). It counts
//!   each row into the per-person tally (`tally.rs`) as it judges it.
//!   It also counts what the included rows hold (`IncludedFacts`), here
//!   where every row's facts are at hand, so they need not travel through
//!   the sort.
//!
//! * `veto_check_item(item_id, person_id, platform, kind, audience, created_at,
//!   deleted_at, media_sha256)` → Boolean, always true: it fails the query at
//!   the first invalid row, and records item ids that may repeat. This is how
//!   an export read in place is checked in the same pass as it is judged.
//!
//! The shard of an item is its author's, computed once per person when the
//! persons table is built (see `Persons::into_table`).

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, TimestampMicrosecondArray, UInt8Array,
    UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, TimestampMicrosecondType, UInt32Type};
use datafusion::common::{DataFusionError, Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use veto_core::rules::{ItemFacts, PersonFacts, TaggedFacts};
use veto_core::{Audience, Kind, Objection, Platform, Policy, evaluate_tagged};

use super::tally::PersonTally;
use crate::export::{CHECKED, ItemColumns, PersonTable, SeenIds, validate_fields};

/// Code of an included item in the `veto_reason` column.
pub const INCLUDED: u8 = 0;

/// Implements identity for a UDF: its name, as one session registers each
/// name once. Debug prints only the name, so the secret and the objections
/// it holds never reach a log. Exported for the other crates' UDFs (the
/// caller needs `datafusion` as a dependency).
#[macro_export]
macro_rules! udf_identity {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                ::datafusion::logical_expr::ScalarUDFImpl::name(self)
                    == ::datafusion::logical_expr::ScalarUDFImpl::name(other)
            }
        }
        impl Eq for $t {}
        impl ::std::hash::Hash for $t {
            fn hash<H: ::std::hash::Hasher>(&self, state: &mut H) {
                ::std::hash::Hash::hash(::datafusion::logical_expr::ScalarUDFImpl::name(self), state)
            }
        }
        impl ::std::fmt::Debug for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(::datafusion::logical_expr::ScalarUDFImpl::name(self))
            }
        }
    };
}

/// Implements `ScalarUDFImpl` for a UDF type with a `signature` field and an
/// inherent `invoke(&self, ScalarFunctionArgs) -> Result<ColumnarValue>`:
/// the name and the return type are all that differ between veto's UDFs.
macro_rules! scalar_udf_impl {
    ($t:ty, $name:literal, $ret:expr) => {
        impl ScalarUDFImpl for $t {
            fn name(&self) -> &str {
                $name
            }
            fn signature(&self) -> &Signature {
                &self.signature
            }
            fn return_type(&self, _: &[DataType]) -> Result<DataType> {
                Ok($ret)
            }
            fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
                self.invoke(args)
            }
        }
        $crate::udf_identity!($t);
    };
}
pub(crate) use scalar_udf_impl;

fn arrays(args: ScalarFunctionArgs) -> Result<(Vec<ArrayRef>, usize)> {
    let n = args.number_rows;
    let arrays = args
        .args
        .into_iter()
        .map(|a| a.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, n))
}

fn strings(a: &ArrayRef) -> Result<&StringArray> {
    match a.as_any().downcast_ref::<StringArray>() {
        Some(s) => Ok(s),
        None => exec_err!("expected Utf8, got {}", a.data_type()),
    }
}

/// The export's row checks as a UDF, for an export the query reads in place
/// (see the module docs). A failure only says that some row is bad: the
/// build then runs `export::check_in_place`, which names the first one.
pub struct CheckItemUdf {
    signature: Signature,
    seen: SeenIds,
    /// Item ids the filter flagged as possibly seen before; the build
    /// confirms them exactly after the query.
    candidates: Arc<Mutex<Vec<String>>>,
}

impl CheckItemUdf {
    pub fn udf(expected_rows: u64, candidates: Arc<Mutex<Vec<String>>>) -> ScalarUDF {
        ScalarUDF::new_from_impl(CheckItemUdf {
            // Volatile: it has effects (the repeat filter), so the optimizer
            // must neither drop nor move it.
            signature: Signature::any(CHECKED.len(), Volatility::Volatile),
            seen: SeenIds::with_expected(expected_rows),
            candidates,
        })
    }
}

scalar_udf_impl!(CheckItemUdf, "veto_check_item", DataType::Boolean);

impl CheckItemUdf {
    fn invoke(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (arrays, n) = arrays(args)?;
        let fields: Vec<Field> = CHECKED
            .iter()
            .zip(&arrays)
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), true))
            .collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
        let columns = ItemColumns::read(&batch).map_err(|e| DataFusionError::External(Box::new(e)))?;
        for i in 0..n {
            if validate_fields(&columns.row(i)).is_err() {
                return exec_err!("an item row failed its checks");
            }
        }
        let mut repeats = Vec::new();
        let ids = batch.column(0).as_string::<i32>();
        self.seen
            .insert_all(ids.iter().flatten(), |id| repeats.push(id.to_string()));
        if !repeats.is_empty() {
            self.candidates.lock().expect("candidates lock").extend(repeats);
        }
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::from(vec![true; n]))))
    }
}

/// The author lookup as a UDF (see the module docs).
pub struct PersonUdf {
    signature: Signature,
    persons: Arc<PersonTable>,
}

impl PersonUdf {
    pub fn udf(persons: Arc<PersonTable>) -> ScalarUDF {
        ScalarUDF::new_from_impl(PersonUdf {
            signature: Signature::any(1, Volatility::Immutable),
            persons,
        })
    }
}

scalar_udf_impl!(PersonUdf, "veto_person", DataType::UInt32);

impl PersonUdf {
    fn invoke(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, n) = arrays(args)?;
        let ids = strings(&a[0])?;
        let mut positions = Vec::with_capacity(n);
        // Items usually come grouped by author: repeat the last answer
        // instead of looking the same id up again.
        let mut last: Option<(&str, u32)> = None;
        for i in 0..n {
            let id = ids.value(i);
            let position = match last {
                Some((last_id, position)) if last_id == id => position,
                _ => match self.persons.position(id) {
                    Some(position) => position,
                    None => return exec_err!("an item's author is not in persons"),
                },
            };
            last = Some((id, position));
            positions.push(position);
        }
        Ok(ColumnarValue::Array(Arc::new(UInt32Array::from(positions))))
    }
}

/// The eligibility decision as a UDF.
pub struct ReasonUdf {
    signature: Signature,
    policy: Arc<Policy>,
    as_of: DateTime<Utc>,
    persons: Arc<PersonTable>,
    objections: Arc<ObjectionSlots>,
    facts: Arc<Mutex<IncludedFacts>>,
    tally: Arc<Mutex<PersonTally>>,
}

/// What the included items are, by vocabulary code, for the manifest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncludedFacts {
    pub kinds: [u64; Kind::ALL.len()],
    pub platforms: [u64; Platform::ALL.len()],
    pub audiences: [u64; Audience::ALL.len()],
    pub latest_created_us: Option<i64>,
}

impl IncludedFacts {
    fn count(&mut self, item: &ItemFacts, created_us: i64) {
        self.kinds[item.kind.code() as usize] += 1;
        self.platforms[item.platform.code() as usize] += 1;
        self.audiences[item.audience.code() as usize] += 1;
        self.latest_created_us = self.latest_created_us.max(Some(created_us));
    }

    fn add(&mut self, other: &IncludedFacts) {
        let sum = |a: &mut [u64], b: &[u64]| a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        sum(&mut self.kinds, &other.kinds);
        sum(&mut self.platforms, &other.platforms);
        sum(&mut self.audiences, &other.audiences);
        self.latest_created_us = self.latest_created_us.max(other.latest_created_us);
    }
}

/// The objections on file grouped by person: each person with objections
/// gets a slot number, which the persons table carries, so the per-item rule
/// check slices a vector instead of hashing a person id. One vector sorted by
/// person holds them all (a vector per person cost a few hundred bytes each).
#[derive(Default)]
pub struct ObjectionSlots {
    /// Sorted by person id, so each person's objections are adjacent.
    objections: Vec<Objection>,
    /// Where each slot's objections start in `objections`, in person order.
    starts: Vec<u32>,
}

impl ObjectionSlots {
    pub fn new(objections: &[Objection]) -> ObjectionSlots {
        let mut sorted = objections.to_vec();
        // Stable: a person's objections keep their order on file.
        sorted.sort_by(|a, b| a.person_id.cmp(&b.person_id));
        let starts = (0..sorted.len())
            .filter(|&i| i == 0 || sorted[i - 1].person_id != sorted[i].person_id)
            .map(|i| i as u32)
            .collect();
        ObjectionSlots {
            objections: sorted,
            starts,
        }
    }

    /// The slot of `person_id`, if they have objections on file.
    pub fn slot(&self, person_id: &str) -> Option<u32> {
        self.starts
            .binary_search_by(|&start| self.objections[start as usize].person_id.as_str().cmp(person_id))
            .ok()
            .map(|slot| slot as u32)
    }

    /// The objections of `slot`, as [`ObjectionSlots::slot`] gave it.
    fn of(&self, slot: u32) -> &[Objection] {
        let start = self.starts[slot as usize] as usize;
        let end = self
            .starts
            .get(slot as usize + 1)
            .map_or(self.objections.len(), |&end| end as usize);
        &self.objections[start..end]
    }
}

impl ReasonUdf {
    pub fn udf(
        policy: Arc<Policy>,
        as_of: DateTime<Utc>,
        persons: Arc<PersonTable>,
        objections: Arc<ObjectionSlots>,
        facts: Arc<Mutex<IncludedFacts>>,
        tally: Arc<Mutex<PersonTally>>,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(ReasonUdf {
            signature: Signature::any(8, Volatility::Immutable),
            policy,
            as_of,
            persons,
            objections,
            facts,
            tally,
        })
    }
}

scalar_udf_impl!(ReasonUdf, "veto_reason", DataType::UInt8);

impl ReasonUdf {
    /// The facts of the persons row `i` tags, into `out` (cleared first).
    fn tagged_facts<'s>(
        &'s self,
        tagged: Option<&datafusion::arrow::array::ListArray>,
        i: usize,
        out: &mut Vec<TaggedFacts<'s>>,
    ) -> Result<()> {
        out.clear();
        let Some(list) = tagged.filter(|l| l.is_valid(i)) else {
            return Ok(());
        };
        let ids = list.value(i);
        let ids = strings(&ids)?;
        for j in 0..ids.len() {
            let Some(position) = ids.is_valid(j).then(|| self.persons.position(ids.value(j))).flatten() else {
                return exec_err!("an item row failed its checks");
            };
            out.push(TaggedFacts {
                birth_date: self.persons.birth_date(position),
                objections: self
                    .persons
                    .objection_slot(position)
                    .map_or(&[][..], |slot| self.objections.of(slot)),
            });
        }
        Ok(())
    }

    fn invoke(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, n) = arrays(args)?;
        let person_idx = a[0].as_primitive::<UInt32Type>();
        let (platform, kind, audience) = (strings(&a[1])?, strings(&a[2])?, strings(&a[3])?);
        let created: &TimestampMicrosecondArray = a[4].as_primitive::<TimestampMicrosecondType>();
        let deleted: &TimestampMicrosecondArray = a[5].as_primitive::<TimestampMicrosecondType>();
        let tagged = (a[6].data_type() != &DataType::Null).then(|| a[6].as_list::<i32>());
        let usage = (a[7].data_type() != &DataType::Null)
            .then(|| strings(&a[7]))
            .transpose()?;
        let no_objections: &[Objection] = &[];
        let mut tagged_facts = Vec::new();
        let mut out = Vec::with_capacity(n);
        let mut facts = IncludedFacts::default();
        // Each row's part for the per-person tally, applied under one lock.
        let mut parts = Vec::with_capacity(n);
        for i in 0..n {
            // Staging validated these values; a failure here is a bug, not bad input.
            let parse_err =
                |what: &str| datafusion::error::DataFusionError::Internal(format!("staged {what} invalid at row {i}"));
            let item = ItemFacts {
                platform: Platform::from_str(platform.value(i)).map_err(|_| parse_err("platform"))?,
                kind: Kind::from_str(kind.value(i)).map_err(|_| parse_err("kind"))?,
                audience: Audience::from_str(audience.value(i)).map_err(|_| parse_err("audience"))?,
                created_at: veto_core::time::from_micros(created.value(i)),
                deleted_at: deleted
                    .is_valid(i)
                    .then(|| veto_core::time::from_micros(deleted.value(i))),
                usage: match usage.filter(|u| u.is_valid(i)) {
                    Some(u) => veto_core::Usage::parse(u.value(i))
                        .map_err(|_| DataFusionError::Execution("an item row failed its checks".into()))?,
                    None => veto_core::Usage::Unstated,
                },
            };
            let author = person_idx.value(i);
            let person = PersonFacts {
                birth_date: self.persons.birth_date(author),
                country: self.persons.country(author),
            };
            let objections = match self.persons.objection_slot(author) {
                Some(slot) => self.objections.of(slot),
                None => no_objections,
            };
            self.tagged_facts(tagged, i, &mut tagged_facts)?;
            let verdict = evaluate_tagged(&self.policy, self.as_of, &item, &person, objections, &tagged_facts);
            out.push(match verdict {
                Ok(()) => {
                    facts.count(&item, created.value(i));
                    INCLUDED
                }
                Err(reason) => reason.code() + 1,
            });
            parts.push((author, verdict.map(|()| (item.kind, item.platform))));
        }
        self.facts.lock().expect("facts lock").add(&facts);
        let mut tally = self.tally.lock().expect("tally lock");
        for (author, part) in parts {
            match part {
                Ok((kind, platform)) => tally.included(author, self.persons.shard(author), kind, platform),
                Err(reason) => tally.excluded(author, reason),
            }
        }
        Ok(ColumnarValue::Array(Arc::new(UInt8Array::from(out))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use veto_core::model::{Channel, ObjectionScope};

    fn objection(id: &str, person: &str, scope: ObjectionScope) -> Objection {
        Objection {
            objection_id: id.into(),
            person_id: person.into(),
            scope,
            filed_at: DateTime::UNIX_EPOCH,
            withdrawn_at: None,
            channel: Channel::Web,
        }
    }

    #[test]
    fn each_person_gets_exactly_their_objections() {
        let on_file = [
            objection("o1", "bea", ObjectionScope::Instagram),
            objection("o2", "ann", ObjectionScope::All),
            objection("o3", "bea", ObjectionScope::Facebook),
            objection("o4", "cem", ObjectionScope::Whatsapp),
        ];
        let slots = ObjectionSlots::new(&on_file);
        let ids = |person: &str| -> Vec<String> {
            slots
                .slot(person)
                .map(|s| slots.of(s).iter().map(|o| o.objection_id.clone()).collect())
                .unwrap_or_default()
        };
        assert_eq!(ids("ann"), ["o2"]);
        // In their order on file.
        assert_eq!(ids("bea"), ["o1", "o3"]);
        assert_eq!(ids("cem"), ["o4"]);
        assert_eq!(slots.slot("dan"), None);
        assert_eq!(slots.slot("a"), None);
        assert_eq!(ObjectionSlots::new(&[]).slot("ann"), None);
    }
}
