//! Fault injection for the crash tests: `VETO_CRASH_AT=<operation>:<point>`
//! makes the process kill itself with SIGKILL when it reaches that point of
//! an operation (the points are listed in ARCHITECTURE.md, "Operation
//! states"). SIGKILL, not a panic or an error: no destructor, no rollback,
//! no flush runs, exactly as when the machine loses power or the kernel's
//! OOM killer strikes. Unset, a point costs one environment lookup.

/// The environment variable that names the point to die at.
pub const CRASH_AT: &str = "VETO_CRASH_AT";

/// Dies here if `VETO_CRASH_AT` names `operation:point`.
pub fn point(operation: &str, point: &str) {
    let Some(spec) = std::env::var_os(CRASH_AT) else {
        return;
    };
    let Some(spec) = spec.to_str() else { return };
    if spec.split_once(':') == Some((operation, point)) {
        // SAFETY: kill(2) on our own pid with a valid signal number has no
        // memory-safety preconditions.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
