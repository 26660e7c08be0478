//! The build's scalar functions, registered with DataFusion. Each wraps one
//! function of veto-core, so the engine applies exactly the core's rules.
//!
//! * `veto_reason(person_id, platform, kind, audience, created_at, deleted_at, birth_date, country)`
//!   → UInt8: 0 if the item is included, else `Reason::code() + 1`.
//! * `veto_redact(text)` → Utf8, counting what it replaced.
//! * `veto_doc_id(item_id)` → Utf8, `veto_shard(person_id)` → UInt32.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, StringArray, StringBuilder, TimestampMicrosecondArray, UInt8Array,
    UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use veto_core::redact::{RedactionCounts, Redactor};
use veto_core::rules::{ItemFacts, PersonFacts};
use veto_core::{Audience, Kind, Objection, Platform, Policy, evaluate};

/// Code of an included item in the `veto_reason` column.
pub const INCLUDED: u8 = 0;

/// Implements identity for a UDF: its name, as one session registers each
/// name once. Debug prints only the name, so the secret and the objections
/// it holds never reach a log.
macro_rules! udf_identity {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.name() == other.name()
            }
        }
        impl Eq for $t {}
        impl Hash for $t {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.name().hash(state)
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

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

/// The eligibility decision as a UDF.
pub struct ReasonUdf {
    signature: Signature,
    policy: Arc<Policy>,
    as_of: DateTime<Utc>,
    objections: Arc<HashMap<String, Vec<Objection>>>,
}
udf_identity!(ReasonUdf);

impl ReasonUdf {
    pub fn udf(policy: Arc<Policy>, as_of: DateTime<Utc>, objections: &[Objection]) -> ScalarUDF {
        let mut by_person: HashMap<String, Vec<Objection>> = HashMap::new();
        for o in objections {
            by_person.entry(o.person_id.clone()).or_default().push(o.clone());
        }
        ScalarUDF::new_from_impl(ReasonUdf {
            signature: Signature::any(8, Volatility::Immutable),
            policy,
            as_of,
            objections: Arc::new(by_person),
        })
    }
}

impl ScalarUDFImpl for ReasonUdf {
    fn name(&self) -> &str {
        "veto_reason"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, n) = arrays(args)?;
        let (person, platform, kind, audience) = (strings(&a[0])?, strings(&a[1])?, strings(&a[2])?, strings(&a[3])?);
        let created: &TimestampMicrosecondArray = a[4].as_primitive::<TimestampMicrosecondType>();
        let deleted: &TimestampMicrosecondArray = a[5].as_primitive::<TimestampMicrosecondType>();
        let birth: &Date32Array = a[6].as_primitive();
        let country = strings(&a[7])?;
        let no_objections: &[Objection] = &[];
        let mut out = Vec::with_capacity(n);
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
            };
            let facts = PersonFacts {
                birth_date: birth.is_valid(i).then(|| veto_core::time::from_days(birth.value(i))),
                country: country.is_valid(i).then(|| country.value(i)),
            };
            let objections = self
                .objections
                .get(person.value(i))
                .map_or(no_objections, Vec::as_slice);
            out.push(match evaluate(&self.policy, self.as_of, &item, &facts, objections) {
                Ok(()) => INCLUDED,
                Err(reason) => reason.code() + 1,
            });
        }
        Ok(ColumnarValue::Array(Arc::new(UInt8Array::from(out))))
    }
}

/// Redaction as a UDF; the counts of all calls add up in `counts`.
pub struct RedactUdf {
    signature: Signature,
    redactor: Redactor,
    counts: Arc<Mutex<RedactionCounts>>,
}
udf_identity!(RedactUdf);

impl RedactUdf {
    pub fn udf(redactor: Redactor, counts: Arc<Mutex<RedactionCounts>>) -> ScalarUDF {
        ScalarUDF::new_from_impl(RedactUdf {
            signature: Signature::any(1, Volatility::Immutable),
            redactor,
            counts,
        })
    }
}

impl ScalarUDFImpl for RedactUdf {
    fn name(&self) -> &str {
        "veto_redact"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, n) = arrays(args)?;
        let text = strings(&a[0])?;
        let mut counts = RedactionCounts::default();
        let mut out = StringBuilder::with_capacity(n, text.value_data().len());
        for i in 0..n {
            if text.is_valid(i) {
                out.append_value(self.redactor.redact(text.value(i), &mut counts));
            } else {
                out.append_null();
            }
        }
        self.counts.lock().expect("counts lock").add(&counts);
        Ok(ColumnarValue::Array(Arc::new(out.finish())))
    }
}

/// A keyed hash of one string column as a UDF (doc ids and shards).
pub struct KeyedUdf {
    signature: Signature,
    secret: Arc<Vec<u8>>,
    shards: Option<u32>,
}
udf_identity!(KeyedUdf);

impl KeyedUdf {
    pub fn doc_id(secret: Arc<Vec<u8>>) -> ScalarUDF {
        ScalarUDF::new_from_impl(KeyedUdf {
            signature: Signature::any(1, Volatility::Immutable),
            secret,
            shards: None,
        })
    }
    pub fn shard(secret: Arc<Vec<u8>>, shards: u32) -> ScalarUDF {
        ScalarUDF::new_from_impl(KeyedUdf {
            signature: Signature::any(1, Volatility::Immutable),
            secret,
            shards: Some(shards),
        })
    }
}

impl ScalarUDFImpl for KeyedUdf {
    fn name(&self) -> &str {
        if self.shards.is_some() {
            "veto_shard"
        } else {
            "veto_doc_id"
        }
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(if self.shards.is_some() {
            DataType::UInt32
        } else {
            DataType::Utf8
        })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, n) = arrays(args)?;
        let input = strings(&a[0])?;
        let array: ArrayRef = match self.shards {
            Some(s) => Arc::new(UInt32Array::from_iter_values(
                (0..n).map(|i| veto_core::hashing::shard_of(&self.secret, input.value(i), s)),
            )),
            None => Arc::new(StringArray::from_iter_values(
                (0..n).map(|i| veto_core::hashing::doc_id(&self.secret, input.value(i))),
            )),
        };
        Ok(ColumnarValue::Array(array))
    }
}
