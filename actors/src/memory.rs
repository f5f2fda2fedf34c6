//! Giving memory back to the system after offline piles are passivated.
//!
//! Freed actor memory stays in glibc's malloc arenas: after a storm of
//! 18,000 piles left and were passivated, the process kept its peak RSS
//! (measured in BENCHMARKS.md). `malloc_trim` returns the arenas' free pages
//! to the kernel; it runs only after passivations, so a steady fleet pays
//! nothing for it. Other allocators (or other C libraries) have their own
//! ways, and the call compiles away there.

use std::sync::Arc;
use std::time::Duration;

use crate::Platform;

/// Every `every`, trims the heap if piles were passivated since the last look.
pub async fn trim_after_passivations(platform: Arc<Platform>, every: Duration) {
    let mut seen = platform.metrics.piles_passivated.get();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = platform.metrics.piles_passivated.get();
        if now != seen {
            seen = now;
            // Off the async workers: a trim of a large heap takes milliseconds.
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            platform.metrics.memory_trims.inc();
            tracing::debug!(released, "heap trimmed after passivations");
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() -> bool {
    // SAFETY: malloc_trim only walks glibc's own arenas; 0 keeps no pad.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() -> bool {
    false
}
