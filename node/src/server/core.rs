//! One executor per core: pinned thread, io_uring runtime, its `Store`, its inbox, its
//! SO_REUSEPORT listener. `CoreCtx` is the core-local state every handler sees (`Rc`, never
//! shared across threads); what all cores read (credentials, config) is immutable `Arc` data.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use super::config::Config;
use super::mesh::{Envelope, Mesh};
use super::metrics::CoreMetrics;
use super::shared::Shared;
use crate::engine::device::DeviceInfo;
use crate::engine::index::BucketMeta;
use crate::engine::rangemap::RangeMap;
use crate::engine::store::Store;

pub struct CoreCtx {
    pub core: usize,
    pub config: Arc<Config>,
    pub shared: Arc<Shared>,
    pub store: Rc<Store>,
    pub mesh: Mesh,
    pub range_map: RangeMap,
    /// Replica of the bucket registry (durable on core 0), updated by core 0's messages.
    pub buckets: RefCell<BTreeMap<String, BucketMeta>>,
    pub metrics: CoreMetrics,
    pub connections: Cell<usize>,
    pub request_counter: Cell<u64>,
}

impl CoreCtx {
    pub fn owner_of(&self, key: &str) -> usize {
        self.range_map.owner(key.as_bytes())
    }

    pub fn next_request_id(&self) -> String {
        let n = self.request_counter.get() + 1;
        self.request_counter.set(n);
        format!(
            "{:016X}",
            ((self.core as u64) << 56) | (self.shared.boot_nonce & 0x00FF_FFFF_0000_0000) | n
        )
    }
}

/// Runs core `core` until shutdown. Blocks the calling thread.
pub fn run_core(
    core: usize,
    config: Arc<Config>,
    shared: Arc<Shared>,
    devices: Vec<DeviceInfo>,
    inbox: async_channel::Receiver<Envelope>,
    mesh: Mesh,
) {
    if config.pin {
        if let Some(ids) = core_affinity::get_core_ids() {
            if let Some(id) = ids.get(core % ids.len().max(1)) {
                core_affinity::set_for_current(*id);
            }
        }
    }
    let mut runtime = match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .enable_timer()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            shared.fail_start(format!(
                "core {core}: cannot build an io_uring runtime: {e}"
            ));
            return;
        }
    };
    runtime.block_on(async move {
        let store = match Store::open(core, config.geometry, &devices) {
            Ok(store) => store,
            Err(e) => {
                shared.fail_start(format!("core {core}: storage recovery failed: {e}"));
                return;
            }
        };
        let ctx = Rc::new(CoreCtx {
            core,
            config: config.clone(),
            shared: shared.clone(),
            store,
            mesh,
            range_map: RangeMap::initial(config.cores),
            buckets: RefCell::new(BTreeMap::new()),
            metrics: CoreMetrics::default(),
            connections: Cell::new(0),
            request_counter: Cell::new(0),
        });
        monoio::spawn(serve_inbox(ctx.clone(), inbox));
        if core == 0 {
            // Core 0 holds the durable bucket registry; every core gets a replica before the
            // node reports healthy.
            for (name, meta) in ctx.store.buckets() {
                let _ = ctx
                    .mesh
                    .broadcast(|_| super::owner::OwnerOp::BucketAdded {
                        name: name.clone(),
                        meta: meta.clone(),
                    })
                    .await;
            }
            shared.buckets_ready();
        }
        let listener = match super::conn::bind(&config.listen) {
            Ok(l) => l,
            Err(e) => {
                shared.fail_start(format!(
                    "core {core}: cannot listen on {}: {e}",
                    config.listen
                ));
                return;
            }
        };
        shared.core_ready();
        let store = ctx.store.clone();
        super::conn::accept_loop(ctx, listener).await;
        // Drained: write what the staging ring holds home, so the next start replays nothing.
        if let Err(e) = store.flush_staged().await {
            eprintln!("level=warn msg=\"could not destage at shutdown; the next start replays the staging ring\" core={core} err=\"{e}\"");
        }
    });
}

async fn serve_inbox(ctx: Rc<CoreCtx>, inbox: async_channel::Receiver<Envelope>) {
    while let Ok(envelope) = inbox.recv().await {
        let ctx = ctx.clone();
        monoio::spawn(async move {
            let reply = super::owner::execute(ctx, envelope.op).await;
            let _ = envelope.reply.send(reply);
        });
    }
}
