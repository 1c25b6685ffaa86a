//! The scrubber: reads every shard of every stripe this core owns, checks its CRC, and
//! rewrites lost or corrupt shards (on devices that are up) from a verified reconstruction,
//! reading each repair back before counting it (see `Store::repair_stripe`).
//!
//! A pass holds one read epoch from its snapshot to its end, so no stripe in the snapshot
//! can be freed and reused under a repair write; space freed meanwhile is reused after the
//! pass. Passes are rate-limited (bytes per second) so foreground I/O keeps priority. A
//! degraded read asks for a pass soon; otherwise passes run every `SCRUB_INTERVAL_SECS`.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::store::Store;

/// Seconds between full passes (override: `TESSERA_SCRUB_INTERVAL_SECS`).
pub const SCRUB_INTERVAL_SECS: u64 = 24 * 3600;
/// Scrub read budget per core.
pub const SCRUB_BYTES_PER_SEC: u64 = 64 * 1024 * 1024;
/// After a degraded read, the next pass starts within this long.
pub const REPAIR_DELAY_SECS: u64 = 10;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScrubReport {
    pub stripes: u64,
    pub shards_repaired: u64,
    /// Stripes with more than m shards lost: cannot be rebuilt (reads of them fail loudly).
    pub unrecoverable: u64,
    /// Stripes with lost shards on devices that are down (rebuilt when the device returns).
    pub waiting_for_device: u64,
}

impl Store {
    /// One full pass over this core's stripes.
    pub async fn scrub_pass(self: &Rc<Self>, bytes_per_sec: u64) -> ScrubReport {
        let _guard = self.begin_read();
        let stripes = self.all_stripes();
        let mut report = ScrubReport::default();
        let started = Instant::now();
        let mut bytes = 0u64;
        for stripe in &stripes {
            report.stripes += 1;
            match self.repair_stripe(stripe).await {
                Ok(n) => report.shards_repaired += n as u64,
                Err(_) => report.unrecoverable += 1,
            }
            if stripe
                .shards
                .iter()
                .any(|s| self.devs.get(s.dev as usize).is_none_or(|d| !d.is_up()))
            {
                report.waiting_for_device += 1;
            }
            bytes += stripe.shard_len as u64 * stripe.geometry.width() as u64;
            // Rate limit: sleep until the pass is no faster than the budget.
            let due = Duration::from_secs_f64(bytes as f64 / bytes_per_sec.max(1) as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                monoio::time::sleep(wait).await;
            }
        }
        self.repair_wanted.set(false);
        if report.shards_repaired > 0 || report.unrecoverable > 0 {
            eprintln!(
                "level=warn msg=\"scrub pass\" core={} stripes={} repaired={} unrecoverable={} waiting_for_device={}",
                self.core, report.stripes, report.shards_repaired, report.unrecoverable, report.waiting_for_device
            );
        }
        report
    }
}

/// Runs passes forever: on schedule, or soon after a degraded read asked for one.
pub async fn scrub_loop(store: Rc<Store>) {
    let interval = std::env::var("TESSERA_SCRUB_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SCRUB_INTERVAL_SECS);
    let mut last = Instant::now();
    loop {
        monoio::time::sleep(Duration::from_secs(REPAIR_DELAY_SECS.min(interval.max(1)))).await;
        if store.repair_wanted.get() || last.elapsed() >= Duration::from_secs(interval) {
            store.scrub_pass(SCRUB_BYTES_PER_SEC).await;
            last = Instant::now();
        }
    }
}
