//! The node's shell: start-up (devices, credentials, one pinned executor per core, the
//! admin listener), and shutdown. See `docs/architecture.md` for the process model.

pub mod admin;
pub mod body;
pub mod config;
pub mod conn;
pub mod core;
pub mod cors;
pub mod md5kernel;
pub mod md5lanes;
pub mod mesh;
pub mod metrics;
pub mod owner;
pub mod s3;
pub mod shared;
pub mod tags;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use self::config::{Config, ConfigError};
use self::shared::Shared;
use crate::constants::MESH_INBOX_DEPTH;
use crate::engine::device;

/// Starts the node and blocks until it stops. Returns an error if it cannot start.
pub fn serve(
    config: Config,
    credentials: std::collections::HashMap<String, String>,
) -> Result<(), ConfigError> {
    let (node_id, fresh) = config::node_id(&config.data_dir)?;
    // Emulated devices are created on a fresh data dir (or when none exists yet: a first
    // start that stopped early); later, one missing device directory is a lost device
    // (down), not something to recreate empty and trust.
    let none_exist = config.devices.iter().all(|p| !p.exists());
    let create = config.devices_emulated && (fresh || none_exist);
    // A blank raw block device is formatted: on a fresh node it is new, in a node with data it
    // is a replaced disk whose shards the scrubber rebuilds. Anything else unlabelled is never
    // written.
    let devices = device::validate(
        &config.devices,
        device::ValidateOptions {
            node_id: &node_id,
            create_dirs: create,
            fresh,
            cores: config.cores,
        },
    );
    if let Some(d) = devices.iter().find(|d| d.no_direct_io) {
        return Err(ConfigError::Invalid(format!(
            "device {} ({}) cannot be used: {}. Tessera needs O_DIRECT on every data device (ext4, xfs; not tmpfs without alignment, not overlayfs)",
            d.index,
            d.path.display(),
            d.reason.as_deref().unwrap_or("?")
        )));
    }
    let down: Vec<&device::DeviceInfo> = devices.iter().filter(|d| !d.up).collect();
    for d in &down {
        eprintln!(
            "level=error msg=\"DEVICE DOWN: serving degraded\" dev={} path={} reason=\"{}\"",
            d.index,
            d.path.display(),
            d.reason.as_deref().unwrap_or("?")
        );
    }
    if down.len() > config.geometry.m as usize {
        return Err(ConfigError::Invalid(format!(
            "{} of {} devices are down; with EC {} at most {} may be: refusing to start",
            down.len(),
            devices.len(),
            config.geometry,
            config.geometry.m
        )));
    }
    let config = Arc::new(config);
    let shared = Arc::new(Shared::new(config.cores, credentials));
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..config.cores)
        .map(|_| async_channel::bounded(MESH_INBOX_DEPTH))
        .unzip();
    let mesh = mesh::Mesh::new(senders);
    let mut threads = Vec::new();
    for (core, inbox) in receivers.into_iter().enumerate() {
        let (config, shared, devices, mesh) = (
            config.clone(),
            shared.clone(),
            devices.clone(),
            mesh.clone(),
        );
        let thread = std::thread::Builder::new()
            .name(format!("tessera-core-{core}"))
            .spawn(move || core::run_core(core, config, shared, devices, inbox, mesh))
            .map_err(|e| ConfigError::Io(format!("cannot start core thread: {e}")))?;
        threads.push(thread);
    }
    admin::start(config.clone(), shared.clone(), mesh.clone())?;
    install_signal_handlers();
    while !shared.healthy() {
        if let Some(why) = shared.start_failed() {
            return Err(ConfigError::Invalid(why));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "level=info msg=\"serving\" listen={} admin={} cores={} devices={} ec={} region={}",
        config.listen,
        config.admin_listen,
        config.cores,
        devices.len(),
        config.geometry,
        config.region
    );
    while !SIGNALLED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("level=info msg=\"shutting down: draining connections\"");
    shared.shutting_down.store(true, Ordering::SeqCst);
    // Connections finish their current request and close; committed data is already durable,
    // so a drain deadline is enough for a clean stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline && shared.open_connections() > 0 {
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("level=info msg=\"stopped\"");
    std::process::exit(0);
}

static SIGNALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
