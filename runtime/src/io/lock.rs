//! A data folder in, its locks out: one runner writes a data folder's state at a time
//! (snapshots, batch views, dead letters), and appenders to a topic of the log take turns.
//! Both are OS file locks, which the kernel releases when the process ends, however it ends.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The writer lock of a data folder's state, held until dropped: taken by `run` and `batch`
/// for as long as they run; a second one is refused, naming the first.
#[derive(Debug)]
pub struct WriterLock {
    file: File,
    path: PathBuf,
}

impl WriterLock {
    /// Takes the lock of `data_dir` (created if needed), or says which process holds it.
    pub fn acquire(data_dir: &Path) -> Result<WriterLock, String> {
        std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
        let path = data_dir.join("LOCK");
        let mut file = lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = holder.trim();
                return Err(format!(
                    "another featc process{} is writing to {}; one writer per data folder: wait for it, or pass another --data-dir",
                    if holder.is_empty() { String::new() } else { format!(" ({holder})") },
                    data_dir.display()
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
        // Who holds it, for the message a second writer gets.
        file.set_len(0).map_err(|e| e.to_string())?;
        let _ = write!(file, "pid {}", std::process::id());
        Ok(WriterLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for WriterLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The append lock of one topic of the embedded log, held while a segment is added (or the
/// log seeded): appenders wait their turn, so every "which offset is next?" is answered under
/// it. Held for milliseconds, unlike [`WriterLock`], so `featc log append` runs while
/// `featc run` follows the log.
#[derive(Debug)]
pub struct AppendLock {
    file: File,
}

impl AppendLock {
    /// Waits for the append lock of the log folder `dir`, and takes it.
    pub fn acquire(dir: &Path) -> Result<AppendLock, String> {
        let path = dir.join("LOCK");
        let file = lock_file(&path)?;
        file.lock().map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
        Ok(AppendLock { file })
    }
}

impl Drop for AppendLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// Opens (creating) a lock file without truncating what it says.
fn lock_file(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let first = WriterLock::acquire(dir.path()).unwrap();
        let err = WriterLock::acquire(dir.path()).unwrap_err();
        assert!(err.contains("another featc process") && err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        assert!(WriterLock::acquire(dir.path()).is_ok());
    }
}
