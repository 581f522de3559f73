//! Message bodies outside the database: append-only segment files in `DIR/bodies/`.
//!
//! The writer thread appends the bodies of one group commit to the current segment,
//! syncs the segment once (`fdatasync`), and only then commits the rows that reference
//! them (`body_refs`: MID → segment, offset, length). So a committed row always points
//! at bytes on stable storage, and each body is written once (no WAL, no checkpoint
//! copy).
//!
//! Crash consistency:
//! - killed after the append, before the commit: the bytes are in a segment but no row
//!   references them; nothing ever reads them (a body is only found through its row),
//!   and the message was not acknowledged. A segment that no row references is deleted
//!   when the queue is opened ([`Spool::open`]); unreferenced bytes inside a referenced
//!   segment go with it when it is deleted.
//! - a new segment file's directory entry is synced before any row can reference it.
//! - a segment is deleted only after the commit that removed its last reference
//!   ([`Spool::unlink_unreferenced`] checks again in the database first); killed in
//!   between, it is an unreferenced segment at the next open.
//! - the queue never appends to a segment of an earlier run (its tail may be torn):
//!   each open starts a new one.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, params};

/// Directory of the segments inside the queue directory.
pub(crate) const BODIES_DIR: &str = "bodies";
/// A segment is closed (a new one started) once it holds this many bytes.
const SEGMENT_BYTES: u64 = 32 << 20;
/// Segment file names: `seg-` and 16 hex digits.
const PREFIX: &str = "seg-";

/// Where a body lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyRef {
    pub seg: u64,
    pub off: u64,
    pub len: u64,
}

struct Segment {
    id: u64,
    file: File,
    len: u64,
}

/// The segments, owned by the writer thread.
pub(crate) struct Spool {
    dir: PathBuf,
    current: Option<Segment>,
    next_id: u64,
    /// Bytes appended to the current segment since its last sync.
    dirty: bool,
    /// Segments that may have lost their last reference in this batch.
    doomed: BTreeSet<u64>,
}

fn file_name(id: u64) -> String {
    format!("{PREFIX}{id:016x}")
}

fn parse_name(name: &str) -> Option<u64> {
    let hex = name.strip_prefix(PREFIX)?;
    if hex.len() != 16 {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// The path of segment `seg` in the bodies directory `dir`.
pub(crate) fn segment_path(dir: &Path, seg: u64) -> PathBuf {
    dir.join(file_name(seg))
}

/// Reads one body (any thread).
pub(crate) fn read(dir: &Path, r: BodyRef) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = File::open(segment_path(dir, r.seg))?;
    let len = usize::try_from(r.len).map_err(|_| std::io::Error::other("body too large"))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, r.off)?;
    Ok(buf)
}

impl Spool {
    /// Opens the bodies directory of the queue directory `queue_dir` (creating it, mode
    /// 0700), deletes every segment no row of `conn` references (left by a crash between
    /// a body write and its commit, or between a commit and the deletion), and prepares
    /// a new segment number.
    pub fn open(queue_dir: &Path, conn: &Connection) -> std::io::Result<Self> {
        let dir = queue_dir.join(BODIES_DIR);
        crate::sqlite::create_private_dir(&dir)?;
        let referenced: BTreeSet<u64> = {
            let mut stmt = conn
                .prepare("SELECT DISTINCT seg FROM body_refs")
                .map_err(std::io::Error::other)?;
            let rows = stmt
                .query_map([], |r| r.get::<_, i64>(0))
                .map_err(std::io::Error::other)?;
            let mut set = BTreeSet::new();
            for r in rows {
                set.insert(r.map_err(std::io::Error::other)?.cast_unsigned());
            }
            set
        };
        let mut max = referenced.last().copied().unwrap_or(0);
        let mut removed = 0usize;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(parse_name) else {
                continue;
            };
            max = max.max(id);
            if !referenced.contains(&id) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        if removed > 0 {
            tracing::info!(
                segments = removed,
                "queue recovery: body segments no message refers to were removed"
            );
        }
        Ok(Spool {
            dir,
            current: None,
            next_id: max.saturating_add(1),
            dirty: false,
            doomed: BTreeSet::new(),
        })
    }

    /// The bodies directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends a body to the current segment (starting a new one when needed); the
    /// bytes are durable only after [`sync`](Self::sync).
    pub fn append(&mut self, data: &[u8]) -> std::io::Result<BodyRef> {
        use std::os::unix::fs::FileExt;
        if self.current.as_ref().is_none_or(|s| s.len >= SEGMENT_BYTES) {
            self.rotate()?;
        }
        let seg = self
            .current
            .as_mut()
            .ok_or_else(|| std::io::Error::other("no body segment"))?;
        seg.file.write_all_at(data, seg.len)?;
        let r = BodyRef {
            seg: seg.id,
            off: seg.len,
            len: data.len() as u64,
        };
        seg.len += r.len;
        self.dirty = true;
        Ok(r)
    }

    /// Closes the current segment (synced) and creates the next one, its directory
    /// entry synced.
    fn rotate(&mut self) -> std::io::Result<()> {
        self.sync()?;
        if let Some(old) = self.current.take() {
            // It may hold only finished bodies by now.
            self.doomed.insert(old.id);
        }
        let id = self.next_id;
        self.next_id = id.saturating_add(1);
        let path = segment_path(&self.dir, id);
        let file = crate::sqlite::private_options()
            .create_new(true)
            .write(true)
            .read(true)
            .open(&path)?;
        File::open(&self.dir)?.sync_all()?;
        self.current = Some(Segment { id, file, len: 0 });
        Ok(())
    }

    /// Makes the bodies appended so far durable (one `fdatasync`). After a failed sync
    /// the segment is abandoned (its page-cache state is unknown) and a new one is used.
    pub fn sync(&mut self) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let res = match &self.current {
            Some(seg) => seg.file.sync_data(),
            None => Ok(()),
        };
        self.dirty = false;
        if res.is_err()
            && let Some(old) = self.current.take()
        {
            self.doomed.insert(old.id);
        }
        res
    }

    /// Notes that segment `seg` may have lost its last reference.
    pub fn doom(&mut self, seg: u64) {
        if self.current.as_ref().is_none_or(|s| s.id != seg) {
            self.doomed.insert(seg);
        }
    }

    /// After a commit: deletes the noted segments that no row references any more.
    pub fn unlink_unreferenced(&mut self, conn: &Connection) {
        let doomed = std::mem::take(&mut self.doomed);
        for seg in doomed {
            if self.current.as_ref().is_some_and(|s| s.id == seg) {
                continue;
            }
            let used = conn
                .prepare_cached("SELECT 1 FROM body_refs WHERE seg = ?1 LIMIT 1")
                .and_then(|mut s| s.exists(params![seg.cast_signed()]));
            match used {
                Ok(false) => match std::fs::remove_file(segment_path(&self.dir, seg)) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(error = %e, seg, "queue: cannot remove a body segment")
                    }
                },
                Ok(true) => {}
                Err(e) => tracing::warn!(error = %e, seg, "queue: body segment check failed"),
            }
        }
    }

    /// Forgets the noted segments (the batch did not commit: they stay, and are
    /// checked again at the next open).
    pub fn forget_doomed(&mut self) {
        self.doomed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_round_trip() {
        assert_eq!(parse_name(&file_name(0x2a)), Some(0x2a));
        assert_eq!(parse_name("seg-2a"), None);
        assert_eq!(parse_name("queue.sqlite"), None);
    }
}
