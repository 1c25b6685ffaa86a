//! Node configuration from the command line, and credentials: flags, environment, a
//! credentials file, or a pair generated on first start and kept in the data dir (0600).

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::engine::erasure::Geometry;

#[derive(Debug)]
pub enum ConfigError {
    Invalid(String),
    Io(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Invalid(s) | ConfigError::Io(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: String,
    pub admin_listen: String,
    pub devices: Vec<PathBuf>,
    /// Devices were defaulted (emulated under the data dir): create them.
    pub devices_emulated: bool,
    pub geometry: Geometry,
    pub cores: usize,
    pub region: String,
    pub domain: Option<String>,
    pub pin: bool,
}

impl Config {
    pub fn resolve_devices(data_dir: &Path, devices: Vec<PathBuf>) -> (Vec<PathBuf>, bool) {
        if devices.is_empty() {
            (
                (0..6)
                    .map(|i| data_dir.join("devices").join(format!("d{i}")))
                    .collect(),
                true,
            )
        } else {
            (devices, false)
        }
    }

    pub fn geometry_for(ec: Option<&str>, devices: usize) -> Result<Geometry, ConfigError> {
        let geometry = match ec {
            Some(text) => Geometry::parse(text).ok_or_else(|| {
                ConfigError::Invalid(format!("--ec {text}: expected K+M, e.g. 4+2"))
            })?,
            None => Geometry::for_devices(devices),
        };
        if geometry.width() > devices {
            return Err(ConfigError::Invalid(format!(
                "--ec {geometry} needs {} devices, {devices} given",
                geometry.width()
            )));
        }
        Ok(geometry)
    }
}

/// Loads credentials. Order: explicit pair (flags / env), then `--credentials FILE` lines
/// `ACCESS_KEY:SECRET_KEY` (several users), else the pair stored in the data dir, else a new
/// pair generated and stored there (mode 0600) and printed.
pub fn load_credentials(
    data_dir: &Path,
    access_key: Option<String>,
    secret_key: Option<String>,
    file: Option<&Path>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut creds = HashMap::new();
    match (access_key, secret_key) {
        (Some(a), Some(s)) => {
            creds.insert(a, s);
        }
        (None, None) => {}
        _ => {
            return Err(ConfigError::Invalid(
                "give both --access-key and --secret-key (or neither)".into(),
            ))
        }
    }
    if let Some(file) = file {
        let text = fs::read_to_string(file)
            .map_err(|e| ConfigError::Io(format!("{}: {e}", file.display())))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (a, s) = line.split_once(':').ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "{}:{}: expected ACCESS:SECRET",
                    file.display(),
                    n + 1
                ))
            })?;
            creds.insert(a.trim().to_string(), s.trim().to_string());
        }
    }
    if !creds.is_empty() {
        return Ok(creds);
    }
    let path = data_dir.join("credentials");
    if let Ok(text) = fs::read_to_string(&path) {
        if let Some((a, s)) = text.trim().split_once(':') {
            println!(
                "credentials (from {}): access key {a}  secret key {s}",
                path.display()
            );
            creds.insert(a.to_string(), s.to_string());
            return Ok(creds);
        }
    }
    let access: String = random_token(20, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    let secret: String = random_token(
        40,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    );
    fs::create_dir_all(data_dir)
        .map_err(|e| ConfigError::Io(format!("{}: {e}", data_dir.display())))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| ConfigError::Io(format!("{}: {e}", path.display())))?;
    f.write_all(format!("{access}:{secret}\n").as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ConfigError::Io(e.to_string()))?;
    println!(
        "generated credentials (stored in {}): access key {access}  secret key {secret}",
        path.display()
    );
    creds.insert(access, secret);
    Ok(creds)
}

fn random_token(len: usize, alphabet: &[u8]) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// The node's identity, stored in the data dir; devices are labelled with it.
/// Returns the id and whether it was created just now (a fresh data dir).
pub fn node_id(data_dir: &Path) -> Result<(String, bool), ConfigError> {
    let path = data_dir.join("node.id");
    if let Ok(id) = fs::read_to_string(&path) {
        return Ok((id.trim().to_string(), false));
    }
    fs::create_dir_all(data_dir)
        .map_err(|e| ConfigError::Io(format!("{}: {e}", data_dir.display())))?;
    let id = format!("{:016x}", rand::random::<u64>());
    fs::write(&path, format!("{id}\n"))
        .map_err(|e| ConfigError::Io(format!("{}: {e}", path.display())))?;
    Ok((id, true))
}
