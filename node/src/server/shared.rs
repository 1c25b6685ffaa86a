//! The little state that all cores and the admin thread read: start-up progress, shutdown,
//! credentials. Not on the request path except credentials, which are immutable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct Shared {
    pub cores: usize,
    ready: AtomicUsize,
    buckets_ready: AtomicBool,
    pub shutting_down: AtomicBool,
    pub start_error: Mutex<Option<String>>,
    /// access key -> secret key
    pub credentials: HashMap<String, String>,
    pub boot_nonce: u64,
    connections: AtomicUsize,
}

impl Shared {
    pub fn new(cores: usize, credentials: HashMap<String, String>) -> Shared {
        Shared {
            cores,
            ready: AtomicUsize::new(0),
            buckets_ready: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
            start_error: Mutex::new(None),
            credentials,
            boot_nonce: rand::random(),
            connections: AtomicUsize::new(0),
        }
    }

    /// Connection open/close bookkeeping (for drain at shutdown; not per request).
    pub fn connection_opened(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    pub fn core_ready(&self) {
        self.ready.fetch_add(1, Ordering::SeqCst);
    }

    pub fn buckets_ready(&self) {
        self.buckets_ready.store(true, Ordering::SeqCst);
    }

    /// Every core serves and has its bucket replica.
    pub fn healthy(&self) -> bool {
        self.ready.load(Ordering::SeqCst) == self.cores
            && self.buckets_ready.load(Ordering::SeqCst)
            && !self.shutting_down.load(Ordering::SeqCst)
    }

    pub fn fail_start(&self, why: String) {
        eprintln!("level=error msg=\"start failed\" err=\"{why}\"");
        if let Ok(mut slot) = self.start_error.lock() {
            slot.get_or_insert(why);
        }
    }

    pub fn start_failed(&self) -> Option<String> {
        self.start_error.lock().ok().and_then(|s| s.clone())
    }
}
