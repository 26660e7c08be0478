//! The build's memory pool: `--memory-mib` is shared by the operators that
//! can spill (the sorts), and only by them.
//!
//! With DataFusion's `FairSpillPool` alone, the operators that cannot spill
//! draw from the same budget: the hash join's persons table and the final
//! merge of the sorted partitions. When the sorts still held their fair
//! share at the end of their input, the final merge's request failed and
//! the build ended with "resources exhausted", now and then, depending on
//! thread timing (seen at 16 MiB with 34k items and at 256 MiB with 10M).
//! Those operators' memory is set by the plan (the persons, one batch per
//! partition being merged), not by the item count, and a budget cannot make
//! them spill; so they are tracked but not limited.

use datafusion::common::Result;
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation, UnboundedMemoryPool,
};

/// The consumer name of a sort's merge of its own spilled runs. It cannot
/// spill, but it adapts: it merges as many runs at once as its reservation
/// allows and merges the rest in further passes. Unbounded, it merged every
/// run at once, and the runs grow with the item count.
const SORT_MERGE: &str = "ExternalSorterMerge";

#[derive(Debug)]
pub struct SpillBudgetPool {
    spilling: FairSpillPool,
    fixed: UnboundedMemoryPool,
}

impl SpillBudgetPool {
    pub fn new(spill_budget: usize) -> SpillBudgetPool {
        SpillBudgetPool {
            spilling: FairSpillPool::new(spill_budget),
            fixed: UnboundedMemoryPool::default(),
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
        self.pool_of(consumer).register(consumer)
    }
    fn unregister(&self, consumer: &MemoryConsumer) {
        self.pool_of(consumer).unregister(consumer)
    }
    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.pool_of(reservation.consumer()).grow(reservation, additional)
    }
    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.pool_of(reservation.consumer()).shrink(reservation, shrink)
    }
    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.pool_of(reservation.consumer()).try_grow(reservation, additional)
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
/// hundred MiB of free memory (1,150 MiB against 780 MiB with this, under
/// `--memory-mib 256`). Each pass costs a few milliseconds with the arenas
/// locked, so the build runs it only under a budget below the default,
/// where memory matters more than time.
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
