//! The admin listener (`--admin-listen`): `GET /health` (200 once every core serves, 503
//! before and while draining) and `GET /metrics` (Prometheus text). A plain thread with
//! blocking sockets: it is off the request path and sees a handful of scrapes a minute.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use super::config::{Config, ConfigError};
use super::mesh::Mesh;
use super::metrics::{self, CoreStats};
use super::owner::{OwnerOp, OwnerReply};
use super::shared::Shared;

pub fn start(config: Arc<Config>, shared: Arc<Shared>, mesh: Mesh) -> Result<(), ConfigError> {
    let listener = TcpListener::bind(&config.admin_listen)
        .map_err(|e| ConfigError::Io(format!("admin listener {}: {e}", config.admin_listen)))?;
    std::thread::Builder::new()
        .name("tessera-admin".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let (shared, mesh) = (shared.clone(), mesh.clone());
                let _ = std::thread::Builder::new()
                    .name("tessera-admin-conn".into())
                    .spawn(move || handle(stream, &shared, &mesh));
            }
        })
        .map_err(|e| ConfigError::Io(e.to_string()))?;
    Ok(())
}

fn handle(stream: TcpStream, shared: &Shared, mesh: &Mesh) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" || line == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET", "/health") if shared.healthy() => ("200 OK", "ok\n".to_string()),
        ("GET", "/health") => (
            "503 Service Unavailable",
            "starting or stopping\n".to_string(),
        ),
        ("GET", "/metrics") => match gather(mesh) {
            Some(stats) => ("200 OK", metrics::render(&stats)),
            None => (
                "503 Service Unavailable",
                "cores did not answer\n".to_string(),
            ),
        },
        _ => ("404 Not Found", "not found\n".to_string()),
    };
    let content_type = if path == "/metrics" {
        "text/plain; version=0.0.4"
    } else {
        "text/plain"
    };
    let head = format!("HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    let mut stream = &stream;
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body.as_bytes()));
}

fn gather(mesh: &Mesh) -> Option<Vec<CoreStats>> {
    let mut out = Vec::with_capacity(mesh.cores());
    for core in 0..mesh.cores() {
        let rx = mesh.post(core, OwnerOp::Stats).ok()?;
        match futures::executor::block_on(rx) {
            Ok(OwnerReply::Stats(mut stats)) => {
                stats.inbox_depth = mesh.queue_depth(core);
                out.push(*stats);
            }
            _ => return None,
        }
    }
    Some(out)
}
