//! Reading the private index (`index.parquet`) by shard.

use std::collections::BTreeSet;

use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;

/// The row groups of the index whose `shard` statistics meet `shards`
/// (the index is written in (shard, doc_id) order, so a shard's rows are a
/// few consecutive row groups). A group without statistics is read.
pub fn index_row_groups(meta: &ParquetMetaData, shards: &BTreeSet<u32>) -> Vec<usize> {
    let all = 0..meta.num_row_groups();
    let column = meta
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .position(|c| c.name() == "shard");
    all.filter(|&g| {
        let stats = column.and_then(|c| meta.row_group(g).column(c).statistics());
        match stats {
            Some(Statistics::Int32(s)) => match (s.min_opt(), s.max_opt()) {
                // UInt32 is stored as INT32; shard numbers are far below 2^31.
                (Some(&lo), Some(&hi)) => shards.range(lo as u32..=hi as u32).next().is_some(),
                _ => true,
            },
            _ => true,
        }
    })
    .collect()
}
