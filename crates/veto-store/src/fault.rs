//! Fault injection for the crash and concurrency tests.
//!
//! `VETO_CRASH_AT=<operation>:<point>` makes the process kill itself with
//! SIGKILL when it reaches that point of an operation (the points are listed
//! in ARCHITECTURE.md, "Operation states"). SIGKILL, not a panic or an
//! error: no destructor, no rollback, no flush runs, exactly as when the
//! machine loses power or the kernel's OOM killer strikes.
//!
//! `VETO_PAUSE_AT=<operation>:<point>` with `VETO_PAUSE_LOCK=<file>` makes
//! it print `paused at <operation>:<point>` on stderr and then wait for a
//! file lock on `<file>` that the test holds: a test orders two commands by
//! what they print and by releasing the lock, not by sleeping.
//!
//! Unset, a point costs one or two environment lookups.

/// The environment variable that names the point to die at.
pub const CRASH_AT: &str = "VETO_CRASH_AT";

/// The environment variable that names the point to pause at.
pub const PAUSE_AT: &str = "VETO_PAUSE_AT";
/// The file whose lock a paused process waits for.
pub const PAUSE_LOCK: &str = "VETO_PAUSE_LOCK";

fn names(var: &str, operation: &str, point: &str) -> bool {
    std::env::var_os(var)
        .and_then(|s| s.to_str().map(|s| s.split_once(':') == Some((operation, point))))
        .unwrap_or(false)
}

/// Dies here if `VETO_CRASH_AT` names `operation:point`; waits here if
/// `VETO_PAUSE_AT` does.
pub fn point(operation: &str, point: &str) {
    if names(PAUSE_AT, operation, point) {
        pause(operation, point);
    }
    if names(CRASH_AT, operation, point) {
        // SAFETY: kill(2) on our own pid with a valid signal number has no
        // memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

fn pause(operation: &str, point: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os(PAUSE_LOCK) else {
        return;
    };
    let mut err = std::io::stderr();
    let _ = writeln!(err, "paused at {operation}:{point}");
    let _ = err.flush();
    if let Ok(file) = std::fs::File::open(path) {
        // Blocks until the test releases its lock; the result does not matter.
        let _ = file.lock_shared();
    }
}
