//! The client's own CPU time, so the report can say what one request cost the load generator.
//!
//! Owns: reading `getrusage(RUSAGE_SELF)` (user and system time of every thread of this
//! process). Must not: attribute time to phases itself — callers take a reading before and
//! after a phase and subtract. Invariant: readings never go backwards; a failed call reads
//! as zero rather than aborting a benchmark.

use std::time::Duration;

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTime {
    pub user: Duration,
    pub system: Duration,
}

impl CpuTime {
    pub fn now() -> CpuTime {
        // SAFETY: `rusage` is plain old data, so a zeroed value is valid; `getrusage` only
        // writes into the struct we pass and has no other memory effects.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let result = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        if result != 0 {
            return CpuTime::default();
        }
        let to_duration = |tv: libc::timeval| {
            Duration::from_secs(tv.tv_sec.max(0) as u64)
                + Duration::from_micros(tv.tv_usec.max(0) as u64)
        };
        CpuTime {
            user: to_duration(usage.ru_utime),
            system: to_duration(usage.ru_stime),
        }
    }

    pub fn since(&self, earlier: &CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    pub fn total(&self) -> Duration {
        self.user + self.system
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_up_as_user_time() {
        // Spin until the process has used 20 ms of user time; on a loaded machine that may
        // take longer than 20 ms of wall time, so the bound is generous. If the readings
        // did not move, the loop would run into the bound and the test would fail.
        let before = CpuTime::now();
        let started = std::time::Instant::now();
        let mut x = 0u64;
        let mut spent = CpuTime::default();
        while spent.user < Duration::from_millis(20) && started.elapsed() < Duration::from_secs(10)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            spent = CpuTime::now().since(&before);
        }
        assert!(spent.user >= Duration::from_millis(20), "{spent:?}");
        assert!(spent.total() >= spent.user);
    }
}
