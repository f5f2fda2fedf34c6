//! The platform's wall clock.
//!
//! Production reads the system clock. A simulated clock starts at a chosen
//! instant and may run faster than real time, so a load test can compress a
//! charging day and an end-to-end test can cross a tariff boundary in seconds.

use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};

#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    Simulated {
        start: DateTime<Utc>,
        rate: f64,
        origin: Instant,
    },
}

impl Clock {
    /// A clock that reads `start` now and advances `rate` times real time.
    pub fn simulated(start: DateTime<Utc>, rate: f64) -> Self {
        Clock::Simulated { start, rate, origin: Instant::now() }
    }

    /// The time now, to the microsecond: what storage keeps, so a record in
    /// memory equals its stored copy.
    pub fn now(&self) -> DateTime<Utc> {
        let now = match *self {
            Clock::System => Utc::now(),
            Clock::Simulated { start, rate, origin } => {
                let real = origin.elapsed().as_secs_f64() * rate;
                start + Duration::microseconds((real * 1e6) as i64)
            }
        };
        now.duration_round(Duration::microseconds(1)).unwrap_or(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_clock_runs_at_its_rate() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let clock = Clock::simulated(start, 1000.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        let elapsed = clock.now() - start;
        // 20 ms real at 1000x is at least 20 s simulated.
        assert!(elapsed >= Duration::seconds(20), "{elapsed}");
        assert!(elapsed < Duration::seconds(3600), "{elapsed}");
    }
}
