//! A log file that rotates by size and/or time and keeps at most N files.
//!
//! Naming: the current file is the subscription's `file` (e.g. `mail_logs`); on rotation
//! it becomes `mail_logs.1`, the previous `.1` becomes `.2`, and so on. `max_files`
//! counts the current file: with `max_files = 3` there are at most `mail_logs`,
//! `mail_logs.1` and `mail_logs.2`; older ones are deleted.

use std::{
    fs::{File, OpenOptions},
    io::{self, Write as _},
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::{Interval, format::unix_secs};

/// Creates `dir` and its missing parents with mode 0700 (owner only, whatever the
/// umask); an existing directory is left as it is.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Takes the group write and all "other" permission bits from a file created earlier
/// under a looser umask (at most 0640 remains; new files are 0600).
fn restrict_file(file: &File, meta: &std::fs::Metadata) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o027 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(mode & 0o740))?;
        }
    }
    #[cfg(not(unix))]
    let _ = (file, meta);
    Ok(())
}

/// Rotation parameters of one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// Rotate before a line would make the file larger than this many bytes.
    pub size: Option<u64>,
    /// Rotate when the hour or day (UTC) changes.
    pub interval: Option<Interval>,
    /// Files kept, the current one included (at least 1).
    pub max_files: u32,
}

pub(crate) struct RotatingFile {
    path: PathBuf,
    file: Option<File>,
    size: u64,
    /// The interval period (hour or day number since the epoch) the file belongs to.
    period: Option<u64>,
    rotation: Rotation,
}

fn period_of(secs: u64, interval: Interval) -> u64 {
    secs / interval.secs()
}

/// `path.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// Opens (appending) or creates the file and its directory.
    pub fn open(path: &Path, rotation: Rotation, now: SystemTime) -> io::Result<RotatingFile> {
        let mut f = RotatingFile {
            path: path.to_path_buf(),
            file: None,
            size: 0,
            period: None,
            rotation,
        };
        f.open_current(now)?;
        f.prune();
        Ok(f)
    }

    fn open_current(&mut self, now: SystemTime) -> io::Result<()> {
        if let Some(dir) = self.path.parent()
            && !dir.as_os_str().is_empty()
        {
            create_private_dir(dir)?;
        }
        let mut opts = OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Log lines carry addresses and message ids: owner only, whatever the
            // umask (a umask can only take bits away from 0600).
            opts.mode(0o600);
        }
        let file = opts.open(&self.path)?;
        let meta = file.metadata()?;
        restrict_file(&file, &meta)?;
        self.size = meta.len();
        // An existing file belongs to the period of its last write.
        let born = if self.size > 0 {
            meta.modified().unwrap_or(now)
        } else {
            now
        };
        self.period = Some(unix_secs(born));
        self.file = Some(file);
        Ok(())
    }

    /// New rotation parameters (a reload); files beyond the new maximum are deleted.
    pub fn set_rotation(&mut self, rotation: Rotation) {
        self.rotation = rotation;
        self.prune();
    }

    fn due(&self, len: u64, now: SystemTime) -> bool {
        let by_size = self
            .rotation
            .size
            .is_some_and(|max| self.size > 0 && self.size + len > max);
        let by_time = match (self.rotation.interval, self.period) {
            (Some(i), Some(born)) => period_of(born, i) != period_of(unix_secs(now), i),
            _ => false,
        };
        by_size || by_time
    }

    /// Appends one complete line (with its newline) in one write.
    pub fn write_line(&mut self, line: &[u8], now: SystemTime) -> io::Result<()> {
        let len = line.len() as u64;
        if self.file.is_some() && self.due(len, now) {
            self.rotate(now)?;
        }
        if self.file.is_none() {
            self.open_current(now)?;
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(line)?;
            self.size += len;
        }
        Ok(())
    }

    /// `file` → `file.1` → `file.2` …; the oldest beyond `max_files` is deleted.
    pub fn rotate(&mut self, now: SystemTime) -> io::Result<()> {
        self.file = None;
        let keep = self.rotation.max_files.max(1);
        if keep == 1 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, keep - 1));
            for n in (1..keep - 1).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.prune();
        self.open_current(now)
    }

    /// Deletes `file.n` for every `n >= max_files`.
    fn prune(&self) {
        let keep = self.rotation.max_files.max(1);
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else {
            return;
        };
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let prefix = format!("{}.", name.to_string_lossy());
        for e in entries.flatten() {
            let fname = e.file_name();
            let fname = fname.to_string_lossy();
            if let Some(n) = fname
                .strip_prefix(&prefix)
                .and_then(|n| n.parse::<u32>().ok())
                && n >= keep
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}
