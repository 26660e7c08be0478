//! The UDFs that make a shard row out of a judged row. Each takes the row's
//! `reason` (from `veto_reason`) first and does its work for included rows
//! only; an excluded row gets null, or for the sort keys a value that puts
//! it after every included row in item id order.
//!
//! * `veto_shard_key(reason, person_idx)` → UInt32: the author's shard, or
//!   `u32::MAX`.
//! * `veto_doc_key(reason, item_id)` → Utf8: the doc id (a keyed hash of
//!   the item id), or the item id itself.
//! * `veto_redact(reason, text)` → Utf8, counting what it replaced.
//! * `veto_included(reason, value)` → Utf8: the value, or null.
//! * `veto_leaf(reason, doc_id, text, platform, kind, lang, media_sha256)` →
//!   FixedSizeBinary(32), the RFC 6962 leaf hash of a shard row (raw bytes:
//!   half the size of hex through the sort).
//!
//! Taking the reason as an argument, rather than `CASE WHEN reason = 0`
//! around each call, saves DataFusion's CASE from filtering each batch to
//! the included rows and scattering the result back, once per column
//! (about 4% of a 10M-item build's CPU time). The copy that remains matters:
//! an excluded row's values are left out of the new array, not hidden
//! behind a null bit, so the sort and its spill files never carry them.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, StringArray, StringBuilder, UInt8Array, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, UInt8Type, UInt32Type};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use veto_core::hashing::{KeyedHasher, LeafData, leaf_hash};
use veto_core::mentions::{MentionCounts, ObjectorNames};
use veto_core::redact::{RedactionCounts, Redactor};

use super::udf::{INCLUDED, scalar_udf_impl};
use crate::export::PersonTable;

/// The arguments as arrays; the first is the reason column.
fn judged(args: ScalarFunctionArgs) -> Result<(UInt8Array, Vec<ArrayRef>, usize)> {
    let n = args.number_rows;
    let mut arrays = args
        .args
        .into_iter()
        .map(|a| a.into_array(n))
        .collect::<Result<Vec<_>>>()?;
    if arrays.is_empty() || arrays[0].data_type() != &DataType::UInt8 {
        return exec_err!("expected the reason (UInt8) as the first argument");
    }
    let reason = arrays.remove(0).as_primitive::<UInt8Type>().clone();
    Ok((reason, arrays, n))
}

fn strings(a: &ArrayRef) -> Result<&StringArray> {
    match a.as_any().downcast_ref::<StringArray>() {
        Some(s) => Ok(s),
        None => exec_err!("expected Utf8, got {}", a.data_type()),
    }
}

fn included(reason: &UInt8Array, i: usize) -> bool {
    reason.value(i) == INCLUDED
}

macro_rules! scalar_udf {
    ($t:ident, $name:literal, $args:expr, $ret:expr) => {
        impl $t {
            fn invoke(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
                let (reason, arrays, n) = judged(args)?;
                if arrays.len() != $args {
                    return exec_err!("{} takes the reason and {} more arguments", $name, $args);
                }
                Ok(ColumnarValue::Array(self.eval(&reason, &arrays, n)?))
            }
        }
        scalar_udf_impl!($t, $name, $ret);
    };
}

fn signature(args: usize) -> Signature {
    Signature::any(args + 1, Volatility::Immutable)
}

/// `veto_shard_key(reason, person_idx)`.
pub struct ShardKeyUdf {
    signature: Signature,
    persons: Arc<PersonTable>,
}
scalar_udf!(ShardKeyUdf, "veto_shard_key", 1, DataType::UInt32);

impl ShardKeyUdf {
    pub fn udf(persons: Arc<PersonTable>) -> ScalarUDF {
        ScalarUDF::new_from_impl(ShardKeyUdf {
            signature: signature(1),
            persons,
        })
    }

    fn eval(&self, reason: &UInt8Array, a: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let Some(person) = a[0].as_primitive_opt::<UInt32Type>() else {
            return exec_err!("veto_shard_key: expected the person_idx as UInt32");
        };
        let keys: UInt32Array = (0..n)
            .map(|i| match included(reason, i) {
                true => self.persons.shard(person.value(i)),
                false => u32::MAX,
            })
            .collect::<Vec<u32>>()
            .into();
        Ok(Arc::new(keys))
    }
}

/// `veto_doc_key(reason, item_id)`.
pub struct DocKeyUdf {
    signature: Signature,
    hasher: KeyedHasher,
}
scalar_udf!(DocKeyUdf, "veto_doc_key", 1, DataType::Utf8);

impl DocKeyUdf {
    pub fn udf(secret: &[u8]) -> ScalarUDF {
        ScalarUDF::new_from_impl(DocKeyUdf {
            signature: signature(1),
            hasher: KeyedHasher::doc_ids(secret),
        })
    }

    fn eval(&self, reason: &UInt8Array, a: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let item_ids = strings(&a[0])?;
        let mut out = StringBuilder::with_capacity(n, 32 * n);
        let mut id = String::with_capacity(32);
        for i in 0..n {
            if included(reason, i) {
                id.clear();
                self.hasher.doc_id_into(item_ids.value(i), &mut id);
                out.append_value(&id);
            } else {
                out.append_value(item_ids.value(i));
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

/// `veto_redact(reason, text)`; the counts of all calls add up in `counts`.
pub struct RedactUdf {
    signature: Signature,
    redactor: Redactor,
    counts: Arc<Mutex<RedactionCounts>>,
    /// Objectors' names, replaced before the personal-data patterns run.
    names: Arc<ObjectorNames>,
    mentions: Arc<Mutex<MentionCounts>>,
}
scalar_udf!(RedactUdf, "veto_redact", 1, DataType::Utf8);

impl RedactUdf {
    pub fn udf(
        redactor: Redactor,
        counts: Arc<Mutex<RedactionCounts>>,
        names: Arc<ObjectorNames>,
        mentions: Arc<Mutex<MentionCounts>>,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(RedactUdf {
            signature: signature(1),
            redactor,
            counts,
            names,
            mentions,
        })
    }

    fn eval(&self, reason: &UInt8Array, a: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let text = strings(&a[0])?;
        let mut counts = RedactionCounts::default();
        let mut mentions = MentionCounts::default();
        let mut out = StringBuilder::with_capacity(n, text.value_data().len());
        for i in 0..n {
            if included(reason, i) && text.is_valid(i) {
                let named = self.names.redact(text.value(i), &mut mentions);
                out.append_value(self.redactor.redact(&named, &mut counts));
            } else {
                out.append_null();
            }
        }
        self.counts.lock().expect("counts lock").add(&counts);
        if mentions.total() > 0 {
            self.mentions.lock().expect("mentions lock").add(&mentions);
        }
        Ok(Arc::new(out.finish()))
    }
}

/// `veto_included(reason, value)`.
pub struct IncludedUdf {
    signature: Signature,
}
scalar_udf!(IncludedUdf, "veto_included", 1, DataType::Utf8);

impl IncludedUdf {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(IncludedUdf {
            signature: signature(1),
        })
    }

    fn eval(&self, reason: &UInt8Array, a: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let values = strings(&a[0])?;
        let bytes = (0..n)
            .filter(|&i| included(reason, i) && values.is_valid(i))
            .map(|i| values.value_length(i) as usize)
            .sum();
        let mut out = StringBuilder::with_capacity(n, bytes);
        for i in 0..n {
            if included(reason, i) && values.is_valid(i) {
                out.append_value(values.value(i));
            } else {
                out.append_null();
            }
        }
        Ok(Arc::new(out.finish()))
    }
}

/// `veto_leaf(reason, doc_id, text, platform, kind, lang, media_sha256)`:
/// computed on every core before the sort rather than in the single writer
/// after it.
pub struct LeafUdf {
    signature: Signature,
}
scalar_udf!(LeafUdf, "veto_leaf", 6, DataType::FixedSizeBinary(32));

impl LeafUdf {
    pub fn udf() -> ScalarUDF {
        ScalarUDF::new_from_impl(LeafUdf {
            signature: signature(6),
        })
    }

    fn eval(&self, reason: &UInt8Array, a: &[ArrayRef], n: usize) -> Result<ArrayRef> {
        let cols = a.iter().map(strings).collect::<Result<Vec<_>>>()?;
        fn opt(c: &StringArray, i: usize) -> Option<&str> {
            c.is_valid(i).then(|| c.value(i))
        }
        let mut canonical = Vec::new();
        let mut out = FixedSizeBinaryBuilder::with_capacity(n, 32);
        for i in 0..n {
            if !included(reason, i) {
                out.append_null();
                continue;
            }
            let leaf = LeafData {
                doc_id: cols[0].value(i),
                text: opt(cols[1], i),
                platform: cols[2].value(i),
                kind: cols[3].value(i),
                lang: opt(cols[4], i),
                media_sha256: opt(cols[5], i),
            };
            leaf.canonical_bytes(&mut canonical);
            out.append_value(leaf_hash(&canonical))?;
        }
        Ok(Arc::new(out.finish()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;

    fn call(udf: &ScalarUDF, reason: &[u8], args: Vec<ArrayRef>) -> ArrayRef {
        let mut all: Vec<ArrayRef> = vec![Arc::new(UInt8Array::from(reason.to_vec()))];
        all.extend(args);
        let types: Vec<DataType> = all.iter().map(|a| a.data_type().clone()).collect();
        let returns = udf.return_type(&types).unwrap();
        let fields = types.into_iter().map(|t| Arc::new(Field::new("a", t, true))).collect();
        let out = udf
            .invoke_with_args(ScalarFunctionArgs {
                args: all.into_iter().map(ColumnarValue::Array).collect(),
                arg_fields: fields,
                number_rows: reason.len(),
                return_field: Arc::new(Field::new("out", returns, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap();
        match out {
            ColumnarValue::Array(a) => a,
            ColumnarValue::Scalar(_) => panic!("expected an array"),
        }
    }

    fn texts(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    #[test]
    fn excluded_rows_keep_no_bytes_of_their_values() {
        let out = call(
            &IncludedUdf::udf(),
            &[0, 3, 0, 1],
            vec![texts(&[Some("facebook"), Some("instagram-secret"), None, Some("x")])],
        );
        let out = out.as_string::<i32>();
        assert_eq!(out.iter().collect::<Vec<_>>(), [Some("facebook"), None, None, None]);
        // The sort copies the value bytes behind nulls too: there must be none.
        assert_eq!(out.value_data(), b"facebook");
    }

    #[test]
    fn sort_keys_put_excluded_rows_after_included_ones_by_item_id() {
        let secret = b"s3cret";
        let ids = texts(&[Some("item-b"), Some("item-a")]);
        let keys = call(&DocKeyUdf::udf(secret), &[0, 2], vec![ids]);
        let keys = keys.as_string::<i32>();
        assert_eq!(keys.value(0), veto_core::hashing::doc_id(secret, "item-b"));
        assert_eq!(keys.value(1), "item-a");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("persons.jsonl"),
            "{\"person_id\": \"ann\", \"birth_date\": null, \"country\": null, \"display_name\": null, \"handles\": []}\n",
        )
        .unwrap();
        let table = crate::export::TableFile::locate(dir.path(), "persons").unwrap();
        let mut rejections = crate::export::Rejections::new(crate::export::OnError::Abort, dir.path().join("r"));
        let persons = crate::export::load_persons(&table, chrono::Utc::now(), &mut rejections).unwrap();
        let persons = Arc::new(persons.into_table(|_| 7, |_| None, 1));
        let shards = call(
            &ShardKeyUdf::udf(persons),
            &[0, 2],
            vec![Arc::new(UInt32Array::from(vec![0, 0]))],
        );
        let shards = shards.as_primitive::<UInt32Type>();
        assert_eq!(shards.values().to_vec(), [7, u32::MAX]);
    }

    #[test]
    fn only_included_text_is_redacted_and_counted() {
        let counts = Arc::new(Mutex::new(RedactionCounts::default()));
        let redactor = Redactor::new(veto_core::policy::RedactionSwitches {
            emails: true,
            phones: true,
            ibans: true,
            mentions: true,
            cards: true,
            tax_ids: true,
        });
        let out = call(
            &RedactUdf::udf(
                redactor,
                counts.clone(),
                Arc::new(ObjectorNames::new([], 0)),
                Default::default(),
            ),
            &[0, 5],
            vec![texts(&[Some("mail a@b.de"), Some("mail c@d.de")])],
        );
        let out = out.as_string::<i32>();
        assert!(!out.value(0).contains("a@b.de"), "redacted: {}", out.value(0));
        assert!(out.is_null(1));
        assert_eq!(counts.lock().unwrap().emails, 1);
    }
}
