//! `veto store copy`: moves an installation between databases (SQLite ⇄
//! PostgreSQL) through veto-store's `copy_to`.

use std::path::Path;

use anyhow::bail;
use veto_store::{Database, Store};

pub async fn copy(home: &Path, from: &Database, to: &Database) -> anyhow::Result<()> {
    if let Database::Sqlite(path) = from
        && !path.is_file()
    {
        bail!("--from {from}: no such file (the source must be an existing veto store)");
    }
    let source = Store::open_at(home, from).await?;
    let report = source.copy_to(to).await;
    source.close().await;
    let report = report?;
    for (table, rows) in &report.rows {
        println!("{table:>24}  {rows} row(s)");
    }
    println!(
        "Copied {from} to {to}: ledger head {} ({}) is the same in both. Sessions were not copied: people log in again.",
        report.head.0, report.head.1
    );
    Ok(())
}
