//! A view file opened once in, positioned reads of it out: the threads that decode its row
//! groups read through one handle with `pread` (no shared offset to race on), so a file that a
//! newer view replaced and removed after it was opened is still read whole.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parquet::errors::ParquetError;
use parquet::file::reader::{ChunkReader, Length};

/// An open view file, shared by its readers.
#[derive(Debug, Clone)]
pub(crate) struct ViewFile {
    file: Arc<File>,
    len: u64,
    /// Where it was opened, for messages.
    pub(crate) path: PathBuf,
}

impl ViewFile {
    pub(crate) fn open(path: &Path) -> Result<ViewFile, String> {
        let file = File::open(path).map_err(|e| format!("cannot open the batch view file {}: {e}", path.display()))?;
        let len = file.metadata().map_err(|e| format!("{}: {e}", path.display()))?.len();
        Ok(ViewFile { file: Arc::new(file), len, path: path.to_path_buf() })
    }
}

impl Length for ViewFile {
    fn len(&self) -> u64 {
        self.len
    }
}

impl ChunkReader for ViewFile {
    type T = At;

    fn get_read(&self, start: u64) -> parquet::errors::Result<At> {
        Ok(At { file: self.file.clone(), at: start })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        let mut buffer = vec![0; length];
        self.file.read_exact_at(&mut buffer, start).map_err(|e| ParquetError::External(Box::new(e)))?;
        Ok(buffer.into())
    }
}

/// A reader of a view file from an offset on, with its own position.
pub(crate) struct At {
    file: Arc<File>,
    at: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_their_own_positions_and_outlive_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.parquet");
        std::fs::write(&path, b"0123456789").unwrap();
        let file = ViewFile::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let (mut a, mut b) = (file.get_read(2).unwrap(), file.get_read(6).unwrap());
        let mut x = [0u8; 3];
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"234");
        b.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"678");
        a.read_exact(&mut x).unwrap();
        assert_eq!(&x, b"567", "a reads on from where it was, whatever b read");
        assert_eq!(&file.get_bytes(8, 2).unwrap()[..], b"89");
        assert!(file.get_bytes(9, 2).is_err(), "past the end");
        assert_eq!(file.len(), 10);
    }
}
