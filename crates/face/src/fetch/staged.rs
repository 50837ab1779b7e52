//! Temporary files in the destination directory that vanish unless explicitly installed, so an
//! interrupted or failed fetch never leaves a partial model file behind.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::FetchError;

/// Prefix of every temporary file the fetcher creates (they are hidden and easy to recognise).
pub(crate) const STAGED_PREFIX: &str = ".rollcall-fetch-";

/// A file being written under a temporary name; removed on drop unless [`StagedFile::install`]
/// renamed it to its final path.
#[derive(Debug)]
pub(crate) struct StagedFile {
    path: PathBuf,
    file: Option<File>,
}

impl StagedFile {
    /// Creates a new, empty, uniquely named file in `dir` (which must exist).
    pub(crate) fn create_in(dir: &Path) -> Result<Self, FetchError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.subsec_nanos())
            .unwrap_or(0);
        loop {
            let name = format!(
                "{STAGED_PREFIX}{}-{}-{nanos}.partial",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                    });
                }
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => return Err(FetchError::io("cannot create", path, error)),
            }
        }
    }

    /// The temporary path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Copies at most `limit` bytes from `reader` into the file, feeding every byte to `sink`
    /// (hashers) on the way. Returns the number of bytes copied; a return of `limit` means the
    /// source may hold more. Read errors are returned as they are for the caller to attribute.
    pub(crate) fn fill_from(
        &mut self,
        reader: &mut dyn Read,
        limit: u64,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<u64, FillError> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| FillError::Write(io::Error::other("staged file already closed")))?;
        let mut buffer = vec![0_u8; 64 * 1024];
        let mut total = 0_u64;
        while total < limit {
            let want = usize::try_from(limit - total)
                .unwrap_or(usize::MAX)
                .min(buffer.len());
            let Some(chunk) = buffer.get_mut(..want) else {
                break;
            };
            let read = match reader.read(chunk) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(FillError::Read(error)),
            };
            let data = chunk.get(..read).unwrap_or_default();
            sink(data);
            file.write_all(data).map_err(FillError::Write)?;
            total += read as u64;
        }
        Ok(total)
    }

    /// Flushes the data to disk and closes the file (keeping it on disk until drop or install).
    pub(crate) fn finish(&mut self) -> Result<(), FetchError> {
        if let Some(file) = self.file.take() {
            file.sync_all()
                .map_err(|error| FetchError::io("cannot write", &self.path, error))?;
        }
        Ok(())
    }

    /// Reopens the finished file for reading.
    pub(crate) fn reopen(&self) -> Result<File, FetchError> {
        File::open(&self.path).map_err(|error| FetchError::io("cannot reopen", &self.path, error))
    }

    /// Atomically renames the file to `target`, creating its parent directories.
    pub(crate) fn install(mut self, target: &Path) -> Result<(), FetchError> {
        self.finish()?;
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|error| FetchError::io("cannot create directory", parent, error))?;
        }
        std::fs::rename(&self.path, target)
            .map_err(|error| FetchError::io("cannot rename into", target, error))?;
        // Installed: nothing left to clean up.
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        self.file = None;
        if !self.path.as_os_str().is_empty() {
            // Best effort: a failure here leaves a hidden `.partial` file, never a model file.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A failed [`StagedFile::fill_from`]: the source failed, or the local write did.
#[derive(Debug)]
pub(crate) enum FillError {
    Read(io::Error),
    Write(io::Error),
}
