//! The build's memory pool: `--memory-mib` is shared by the operators that
//! can spill (the sorts) and by the sorts' merges of their spilled runs,
//! which merge as many runs at once as the budget holds; and how freed
//! memory goes back to the system under a small budget.
//!
//! With DataFusion's `FairSpillPool` alone, the operators that cannot spill
//! draw from the same budget: the final merge of the sorted partitions (and,
//! before the author lookup replaced the join, the join's persons table). When the sorts still held their fair
//! share at the end of their input, the final merge's request failed and
//! the build ended with "resources exhausted", now and then, depending on
//! thread timing (seen at 16 MiB with 34k items and at 256 MiB with 10M).
//! Those operators' memory is set by the plan (the persons, one batch per
//! partition being merged), not by the item count, and a budget cannot make
//! them spill; so they are tracked but not limited (the staged path's
//! duplicate check still joins, on the few candidate ids). A sort's own merge is
//! different: it reads one stream per spilled run, and the runs grow with
//! the items, so it is held to the budget (see [`SORT_MERGE`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::common::{Result, resources_err};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, UnboundedMemoryPool,
};

/// The consumer name of a sort's merge of its own spilled runs. It cannot
/// spill, but it adapts: it merges as many runs at once as its reservation
/// allows and merges the rest in further passes. Unbounded, it merged every
/// run at once, and the runs grow with the item count. Held to the budget
/// without shares, the first partition's merge could take it all and leave
/// the other partition's sort without room (seen at 20M items with 256 MiB,
/// and in this module's test), so each merge gets an equal share, as the
/// sorts do.
const SORT_MERGE: &str = "ExternalSorterMerge";

#[derive(Debug)]
pub struct SpillBudgetPool {
    spilling: FairSpillPool,
    fixed: UnboundedMemoryPool,
    budget: usize,
    /// Sort merges registered now, which share the budget fairly.
    open_sort_merges: AtomicUsize,
    /// Sort merges ever seen: a test holds [`SORT_MERGE`] to DataFusion's name.
    sort_merges: AtomicUsize,
}

impl SpillBudgetPool {
    pub fn new(spill_budget: usize) -> SpillBudgetPool {
        SpillBudgetPool {
            spilling: FairSpillPool::new(spill_budget),
            fixed: UnboundedMemoryPool::default(),
            budget: spill_budget,
            open_sort_merges: Default::default(),
            sort_merges: Default::default(),
        }
    }

    fn pool_of(&self, consumer: &MemoryConsumer) -> &dyn MemoryPool {
        if consumer.can_spill() || consumer.name().starts_with(SORT_MERGE) {
            &self.spilling
        } else {
            &self.fixed
        }
    }
}

impl MemoryPool for SpillBudgetPool {
    fn name(&self) -> &str {
        "veto spill budget"
    }
    fn register(&self, consumer: &MemoryConsumer) {
        if consumer.name().starts_with(SORT_MERGE) {
            self.sort_merges.fetch_add(1, Ordering::Relaxed);
            self.open_sort_merges.fetch_add(1, Ordering::Relaxed);
        }
        self.pool_of(consumer).register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        if consumer.name().starts_with(SORT_MERGE) {
            self.open_sort_merges.fetch_sub(1, Ordering::Relaxed);
        }
        self.pool_of(consumer).unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.pool_of(reservation.consumer()).grow(reservation, additional)
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.pool_of(reservation.consumer()).shrink(reservation, shrink)
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        let consumer = reservation.consumer();
        if consumer.name().starts_with(SORT_MERGE) {
            // A fair share, as the sorts get: the first merge to start must
            // leave room for the others, which cannot spill their way out.
            let open = self.open_sort_merges.load(Ordering::Relaxed).max(1);
            let share = self.budget / open;
            if reservation.size() + additional > share {
                return resources_err!(
                    "{} asked for {additional} bytes more than its share ({share} bytes) of the budget",
                    consumer.name()
                );
            }
        }
        self.pool_of(consumer).try_grow(reservation, additional)
    }
    fn reserved(&self) -> usize {
        self.spilling.reserved() + self.fixed.reserved()
    }
    fn memory_limit(&self) -> MemoryLimit {
        self.spilling.memory_limit()
    }
}

impl std::fmt::Display for SpillBudgetPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: spilling operators {}", self.name(), self.spilling)
    }
}

/// Returns memory that the allocator holds but nothing uses to the system,
/// every `interval` until dropped.
///
/// glibc keeps freed memory in per-thread arenas for reuse. In the sort's
/// merges, batches are read on the engine's threads and freed on others
/// (the encoders), and at 10M items the resident size grew by several
/// hundred MiB of free memory (about 1,150 MiB against 710 MiB with this,
/// under `--memory-mib 256`). The pages handed back are faulted in again
/// when reused, which costs time, so the build runs it only under a budget
/// below the default, where memory matters more than time.
pub struct FreedMemoryReturner {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FreedMemoryReturner {
    pub fn start(interval: std::time::Duration) -> FreedMemoryReturner {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("veto-trim".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    return_freed_memory();
                }
            })
            // Without the thread the build only keeps more memory.
            .ok();
        FreedMemoryReturner {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for FreedMemoryReturner {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no
    // preconditions and may be called from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{AsArray, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::datasource::MemTable;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::{SessionConfig, SessionContext};

    use super::*;

    #[tokio::test]
    async fn sorts_past_their_budget_merge_their_runs_within_it_side_by_side() {
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, false)]));
        // 40 batches of 4,096 rows in descending order: about 6 MiB of keys.
        let mut batches: Vec<RecordBatch> = (0..40)
            .map(|b| {
                let keys = (0..4096).map(|i| format!("{:08}-{}", 1_000_000 - (b * 4096 + i), "x".repeat(20)));
                RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from_iter_values(keys))]).unwrap()
            })
            .collect();
        // Two partitions, each sorting and merging its own runs at once.
        // Without equal shares, the first merge took the budget and the
        // other partition's sort ended with "resources exhausted" (every
        // time, at this size).
        let second_half = batches.split_off(20);
        let table = MemTable::try_new(schema, vec![batches, second_half]).unwrap();
        let pool = Arc::new(SpillBudgetPool::new(2 << 20));
        let spill = tempfile::tempdir().unwrap();
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(pool.clone())
            .with_temp_file_path(spill.path())
            .build_arc()
            .unwrap();
        let mut config = SessionConfig::new().with_target_partitions(2);
        config.options_mut().execution.sort_spill_reservation_bytes = 256 << 10;
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        ctx.register_table("t", Arc::new(table)).unwrap();

        let sorted = ctx
            .table("t")
            .await
            .unwrap()
            .sort(vec![datafusion::prelude::col("k").sort(true, false)])
            .unwrap()
            .collect()
            .await
            .unwrap();

        let keys: Vec<String> = sorted
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|k| k.unwrap().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(keys.len(), 40 * 4096);
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted and complete");
        // Three times the budget sorted without running out, and the sort's
        // merge registered under the name this pool binds: if the engine
        // renamed it, the merge would draw on no budget again.
        assert!(pool.sort_merges.load(Ordering::Relaxed) > 0);
    }
}
