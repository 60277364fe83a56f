//! Files that survive a crash: written to a temporary name, fsynced, renamed and their
//! folder fsynced, so a reader sees the old file or the whole new one.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use uuid::Uuid;

/// Writes `bytes` to `path` so that a reader sees the old file or the whole new one, and the
/// new one survives a crash once this returns.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_file_atomically(path, bytes, 0o644)
}

/// [`write_atomically`] for keys and tokens: readable by the owner only, from creation.
pub fn write_secret_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_file_atomically(path, bytes, 0o600)
}

fn write_file_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", Uuid::new_v4().simple()));
    {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    File::open(dir)?.sync_all()
}
