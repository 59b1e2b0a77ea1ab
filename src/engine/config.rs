//! Engine settings: worker threads, DuckDB's memory limit and its spill directory.
//! Precedence: environment (`DATAFORGE_THREADS`, `DATAFORGE_MEMORY_LIMIT`, `DATAFORGE_TEMP_DIR`)
//! over what the workspace stored over defaults derived from this machine.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{EngineError, Result};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub threads: usize,
    pub memory_limit_bytes: u64,
    pub temp_dir: PathBuf,
    /// Folders the SQL console may read and write files in (none by default).
    #[serde(default)]
    pub sql_folders: Vec<PathBuf>,
    /// Warn when the process passes this share of the memory limit (percent).
    #[serde(default = "default_memory_warning_percent")]
    pub memory_warning_percent: u8,
}

pub const DEFAULT_MEMORY_WARNING_PERCENT: u8 = 80;

fn default_memory_warning_percent() -> u8 {
    DEFAULT_MEMORY_WARNING_PERCENT
}

/// Which settings the environment pins; those win over stored values and are shown read-only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvOverrides {
    pub threads: Option<usize>,
    pub memory_limit_bytes: Option<u64>,
    pub temp_dir: Option<PathBuf>,
}

impl EnvOverrides {
    pub fn from_env() -> Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let threads = match var("DATAFORGE_THREADS") {
            Some(v) => Some(parse_threads(&v).map_err(|reason| {
                EngineError::InvalidOption(format!("DATAFORGE_THREADS={v}: {reason}"))
            })?),
            None => None,
        };
        let memory_limit_bytes = match var("DATAFORGE_MEMORY_LIMIT") {
            Some(v) => Some(parse_size(&v).map_err(|reason| {
                EngineError::InvalidOption(format!("DATAFORGE_MEMORY_LIMIT={v}: {reason}"))
            })?),
            None => None,
        };
        Ok(Self {
            threads,
            memory_limit_bytes,
            temp_dir: var("DATAFORGE_TEMP_DIR").map(PathBuf::from),
        })
    }

    pub fn apply(&self, settings: &mut Settings) {
        if let Some(t) = self.threads {
            settings.threads = t;
        }
        if let Some(m) = self.memory_limit_bytes {
            settings.memory_limit_bytes = m;
        }
        if let Some(d) = &self.temp_dir {
            settings.temp_dir = d.clone();
        }
    }
}

impl Settings {
    /// Defaults for a workspace at `workspace`: all cores, half of physical memory, spill
    /// files beside the workspace file.
    pub fn defaults_for(workspace: &Path) -> Self {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let total = super::job::memory::total_memory_bytes();
        let memory_limit_bytes = if total == 0 { 2 << 30 } else { (total / 2).max(256 << 20) };
        let mut temp = workspace.as_os_str().to_owned();
        temp.push(".tmp");
        Self {
            threads,
            memory_limit_bytes,
            temp_dir: PathBuf::from(temp),
            sql_folders: Vec::new(),
            memory_warning_percent: DEFAULT_MEMORY_WARNING_PERCENT,
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.threads == 0 || self.threads > 1024 {
            return Err(EngineError::InvalidOption("threads must be between 1 and 1024".into()));
        }
        if self.memory_limit_bytes < (64 << 20) {
            return Err(EngineError::InvalidOption("the memory limit must be at least 64 MB".into()));
        }
        if !(1..=100).contains(&self.memory_warning_percent) {
            return Err(EngineError::InvalidOption("the memory warning is a share of the limit between 1 and 100 %".into()));
        }
        Ok(())
    }
}

pub fn parse_threads(text: &str) -> std::result::Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("expected a whole number of threads between 1 and 1024".into()),
    }
}

/// Parses sizes like `4GB`, `512 MiB`, `1.5G` or a plain byte count.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 4GB or 512MB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        other => return Err(format!("unknown size unit {other:?}; use KB, MB, GB or TB")),
    };
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(format!("{text:?} is not a positive size"));
    }
    Ok(bytes as u64)
}

pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else if value >= 100.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The default workspace file in the OS data directory.
pub fn default_workspace_path() -> Result<PathBuf> {
    let dirs = directories::ProjectDirs::from("org", "dataforge", "dataforge").ok_or_else(|| {
        EngineError::InvalidOption("no home directory found; pass --workspace PATH".into())
    })?;
    Ok(dirs.data_dir().join("workspace.duckdb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("4GB"), Ok(4 << 30));
        assert_eq!(parse_size("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4 parsecs").is_err());
        assert!(parse_size("0").is_err());
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KB");
        assert_eq!(format_bytes(3 << 30), "3.0 GB");
    }
}

/// `1234567` → `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// `1 row`, `336,776 rows`.
pub fn rows_text(n: u64) -> String {
    if n == 1 { "1 row".to_string() } else { format!("{} rows", group_digits(n)) }
}
