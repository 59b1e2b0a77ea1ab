//! Turns what the user named into readable sources: plain files, globs, hive-partitioned
//! Parquet folders, and `.zip` archives (every member, or one as `archive.zip/member.csv`),
//! whose members are extracted to the workspace's temp folder for the length of the job.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::error::{EngineError, Result};
use crate::engine::job::JobCtx;

#[derive(Clone)]
pub struct Source {
    /// What the reader opens (an extracted member lives in a temp folder).
    pub path: PathBuf,
    /// How the user knows it: `data.csv`, `archive.zip/data.csv`.
    pub display: String,
    /// Bytes on disk (compressed size for compressed files), for progress.
    pub bytes: u64,
    /// A glob or folder pattern that DuckDB expands.
    pub is_pattern: bool,
    _extracted: Option<Arc<tempfile::TempDir>>,
}

impl Source {
    /// The scratch folder this source lives in, to keep it for as long as it is read.
    pub fn scratch(&self) -> Option<Arc<tempfile::TempDir>> {
        self._extracted.clone()
    }
}

/// Largest total a zip may declare for its members.
const MAX_ZIP_EXPANDED: u64 = 64 << 30;

pub fn expand(paths: &[PathBuf], temp_dir: &Path, ctx: &JobCtx) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for path in paths {
        expand_one(path, temp_dir, ctx, &mut out)?;
    }
    Ok(out)
}

/// True for a pipe, a terminal or another stream (`/dev/stdin`): readable once, no size.
pub fn is_stream(meta: &std::fs::Metadata) -> bool {
    !meta.is_file() && !meta.is_dir()
}

/// Longest line a stream may have, as DuckDB's CSV reader allows (`max_line_size`).
const MAX_STREAM_LINE_BYTES: u64 = 2_000_000;

/// Copies a stream to a file in the temp folder, under the stream's own name, so it can be
/// sniffed and read like a file. The copy obeys the reader's limits as it goes (a line no
/// longer than DuckDB reads, no more columns than dataforge reads), so an endless stream
/// (`/dev/zero`) stops with an error, and it waits for a writer without blocking: a pipe
/// nobody writes to can be cancelled.
pub fn spool(path: &Path, temp_dir: &Path, ctx: &JobCtx) -> Result<Source> {
    use std::io::Write as _;
    std::fs::create_dir_all(temp_dir).map_err(|e| EngineError::io(temp_dir, e))?;
    let dir = tempfile::Builder::new()
        .prefix(&crate::engine::scratch::prefix("pipe"))
        .tempdir_in(temp_dir)
        .map_err(|e| EngineError::io(temp_dir, e))?;
    let display = super::display_name(path);
    let target = dir.path().join(&display);
    let mut reader = StreamReader::open(path)?;
    let mut writer = std::io::BufWriter::new(std::fs::File::create(&target).map_err(|e| EngineError::io(&target, e))?);
    ctx.phase(format!("Reading {display}"), None);
    let mut buf = vec![0u8; 1 << 20];
    let (mut bytes, mut line, mut line_bytes) = (0u64, 1u64, 0u64);
    let mut head: Vec<u8> = Vec::new();
    while let Some(n) = reader.read(&mut buf, ctx)? {
        let chunk = &buf[..n];
        if head.len() < 1 << 20 {
            head.extend_from_slice(&chunk[..n.min((1 << 20) - head.len())]);
            super::sniff::check_width(path, &head)?;
        }
        for &b in chunk {
            if b == b'\n' {
                line += 1;
                line_bytes = 0;
            } else {
                line_bytes += 1;
                if line_bytes > MAX_STREAM_LINE_BYTES {
                    return Err(EngineError::InvalidData {
                        file: path.to_path_buf(),
                        line: Some(line),
                        column: None,
                        reason: format!(
                            "the line is longer than {} bytes; a line may be at most {} bytes",
                            crate::engine::config::group_digits(MAX_STREAM_LINE_BYTES),
                            crate::engine::config::group_digits(MAX_STREAM_LINE_BYTES)
                        ),
                    });
                }
            }
        }
        writer.write_all(chunk).map_err(|e| EngineError::io(&target, e))?;
        bytes += n as u64;
        ctx.progress(bytes, 0);
    }
    writer.flush().map_err(|e| EngineError::io(&target, e))?;
    if bytes == 0 {
        return Err(EngineError::invalid_file(path, "the stream ended without data; there is nothing to import"));
    }
    Ok(Source { path: target, display, bytes, is_pattern: false, _extracted: Some(Arc::new(dir)) })
}

/// A stream read without blocking the job: it waits for data a tenth of a second at a time,
/// hearing cancel in between.
struct StreamReader {
    file: std::fs::File,
    path: PathBuf,
}

impl StreamReader {
    fn open(path: &Path) -> Result<Self> {
        let mut options = std::fs::OpenOptions::new();
        options.read(true);
        // Opening a named pipe blocks until a writer comes; without blocking it returns at once.
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
        let file = options.open(path).map_err(|e| EngineError::io(path, e))?;
        Ok(Self { file, path: path.to_path_buf() })
    }

    /// The next bytes into `buf`: `Some(n)`, or `None` at the end of the stream.
    fn read(&mut self, buf: &mut [u8], ctx: &JobCtx) -> Result<Option<usize>> {
        use std::io::Read as _;
        loop {
            ctx.checkpoint()?;
            #[cfg(unix)]
            {
                use std::os::fd::AsRawFd as _;
                let mut poll = libc::pollfd { fd: self.file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
                // SAFETY: one valid pollfd for the file this reader owns.
                let ready = unsafe { libc::poll(&mut poll, 1, 100) };
                if ready == 0 {
                    continue;
                }
                if ready < 0 {
                    let e = std::io::Error::last_os_error();
                    if e.kind() == std::io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(EngineError::io(&self.path, e));
                }
                if poll.revents & libc::POLLIN == 0 && poll.revents & libc::POLLHUP != 0 {
                    return Ok(None);
                }
            }
            match self.file.read(buf) {
                Ok(0) => return Ok(None),
                Ok(n) => return Ok(Some(n)),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted) => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(EngineError::io(&self.path, e)),
            }
        }
    }
}

pub fn is_zip(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

fn expand_one(path: &Path, temp_dir: &Path, ctx: &JobCtx, out: &mut Vec<Source>) -> Result<()> {
    let display = super::display_name(path);
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            if let Some((archive, member)) = zip_member_path(path) {
                return extract(&archive, Some(&member), temp_dir, out);
            }
            if path.to_string_lossy().contains(['*', '?']) {
                out.push(Source { path: path.to_path_buf(), display, bytes: 0, is_pattern: true, _extracted: None });
                return Ok(());
            }
            return Err(EngineError::io(path, e));
        }
    };
    if is_stream(&meta) {
        out.push(spool(path, temp_dir, ctx)?);
        return Ok(());
    }
    if meta.is_dir() {
        let (files, bytes) = crate::engine::scratch::files_under(path, |p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("parquet")));
        if files == 0 {
            return Err(EngineError::io(path, std::io::Error::other("is a folder without Parquet files; pick the files to import")));
        }
        out.push(Source {
            path: parquet_glob(path),
            display: format!("{display}/ ({files} Parquet files)"),
            bytes,
            is_pattern: true,
            _extracted: None,
        });
        return Ok(());
    }
    if meta.len() == 0 {
        return Err(EngineError::invalid_file(path, "the file is empty; there is nothing to import"));
    }
    if is_zip(path) {
        return extract(path, None, temp_dir, out);
    }
    out.push(Source { path: path.to_path_buf(), display, bytes: meta.len(), is_pattern: false, _extracted: None });
    Ok(())
}

/// `dir/archive.zip/inner/file.csv` → (`dir/archive.zip`, `inner/file.csv`).
fn zip_member_path(path: &Path) -> Option<(PathBuf, String)> {
    let mut archive = path.to_path_buf();
    let mut member = Vec::new();
    while let Some(name) = archive.file_name().map(|n| n.to_string_lossy().into_owned()) {
        member.push(name);
        archive.pop();
        if is_zip(&archive) && archive.is_file() {
            member.reverse();
            return Some((archive, member.join("/")));
        }
    }
    None
}

/// Every Parquet file under `dir`, at any depth (hive partition folders).
pub fn parquet_glob(dir: &Path) -> PathBuf {
    dir.join("**").join("*.parquet")
}

/// Names of the importable members of a zip archive (folders and OS litter left out).
pub fn zip_members(path: &Path) -> Result<Vec<String>> {
    let archive = open_zip(path)?;
    Ok((0..archive.len())
        .filter_map(|i| archive.name_for_index(i)?.ok().map(|n| n.into_owned()))
        .filter(|n| !n.ends_with('/') && !n.starts_with("__MACOSX/") && !n.rsplit('/').next().unwrap_or("").starts_with('.'))
        .collect())
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<BufReader<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|e| EngineError::io(path, e))?;
    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| EngineError::invalid_file(path, format!("not a readable zip archive ({e})")))
}

fn extract(archive_path: &Path, only: Option<&str>, temp_dir: &Path, out: &mut Vec<Source>) -> Result<()> {
    let mut names = zip_members(archive_path)?;
    if let Some(member) = only {
        if !names.iter().any(|n| n == member) {
            return Err(EngineError::io(archive_path.join(member), std::io::Error::other(format!("no member \"{member}\" in the archive"))));
        }
        names = vec![member.to_string()];
    }
    if names.is_empty() {
        return Err(EngineError::invalid_file(archive_path, "the zip archive holds no files"));
    }
    let mut archive = open_zip(archive_path)?;
    let declared: u64 = names.iter().filter_map(|n| archive.by_name(n).ok().map(|f| f.size())).sum();
    if declared > MAX_ZIP_EXPANDED {
        return Err(EngineError::invalid_file(archive_path, format!("the archive would expand to {} GB; extract it yourself and import the files", declared >> 30)));
    }
    std::fs::create_dir_all(temp_dir).map_err(|e| EngineError::io(temp_dir, e))?;
    let dir = Arc::new(tempfile::Builder::new().prefix(&crate::engine::scratch::prefix("zip")).tempdir_in(temp_dir).map_err(|e| EngineError::io(temp_dir, e))?);
    let archive_name = super::display_name(archive_path);
    for (i, name) in names.iter().enumerate() {
        let mut entry = archive.by_name(name).map_err(|e| EngineError::invalid_file(archive_path, format!("member \"{name}\" cannot be read ({e})")))?;
        let file_name = name.rsplit('/').next().unwrap_or(name);
        let target = dir.path().join(format!("{i}")).join(file_name);
        std::fs::create_dir_all(target.parent().unwrap_or(dir.path())).map_err(|e| EngineError::io(dir.path(), e))?;
        let mut file = std::fs::File::create(&target).map_err(|e| EngineError::io(&target, e))?;
        let bytes = std::io::copy(&mut entry, &mut file).map_err(|e| EngineError::invalid_file(archive_path, format!("member \"{name}\" cannot be extracted ({e})")))?;
        if bytes == 0 {
            continue;
        }
        out.push(Source {
            path: target,
            display: format!("{archive_name}/{name}"),
            bytes: entry.compressed_size(),
            is_pattern: false,
            _extracted: Some(dir.clone()),
        });
    }
    Ok(())
}
