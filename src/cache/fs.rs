//! The directory backend: one file per entry, named by the key's digest, written to a
//! temporary file in the same directory and renamed into place (so a reader sees the old
//! entry or the new one, never half of one, whatever other processes do). Reading an
//! entry sets its modification time: eviction removes the least recently used entries
//! once the directory holds more than its maximum size.
//!
//! Trust: whoever can write the directory can hide malware from imgscan, so it is
//! created 0700 and refused when it belongs to another user or group or others can
//! write it, or when a parent directory would let someone else swap it (a parent owned
//! by another user than us or root, or writable by others without the sticky bit).

use super::backend::Backend;
use super::entry::MAX_ENTRY_BYTES;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

const SUFFIX: &str = ".entry";

/// Entries as files in one directory.
#[derive(Debug)]
pub struct FsBackend {
    dir: PathBuf,
    max_bytes: u64,
    seq: AtomicU64,
}

/// The default directory: `$XDG_CACHE_HOME/imgscan/layers`, else
/// `~/.cache/imgscan/layers`.
pub fn default_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("imgscan").join("layers"))
}

/// Our effective uid, as the owner of `/proc/self`.
fn own_uid() -> Option<u32> {
    fs::metadata("/proc/self").ok().map(|m| m.uid())
}

impl FsBackend {
    /// Open (creating it 0700 when missing) the cache directory `dir`. Refused when `dir`
    /// is not a directory, belongs to another user, or group or others may write it.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<FsBackend, String> {
        let shown = dir.display();
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = dir.parent() {
                    fs::create_dir_all(parent)
                        .map_err(|e| format!("cache directory {shown}: creating parent: {e}"))?;
                }
                fs::DirBuilder::new()
                    .mode(0o700)
                    .create(dir)
                    .or_else(|e| {
                        if e.kind() == std::io::ErrorKind::AlreadyExists {
                            Ok(())
                        } else {
                            Err(e)
                        }
                    })
                    .map_err(|e| format!("cache directory {shown}: {e}"))?;
            }
            Err(e) => return Err(format!("cache directory {shown}: {e}")),
            Ok(_) => {}
        }
        let meta =
            fs::symlink_metadata(dir).map_err(|e| format!("cache directory {shown}: {e}"))?;
        if !meta.is_dir() {
            return Err(format!(
                "cache directory {shown} is not a directory (a symlink or file): refused"
            ));
        }
        if let Some(uid) = own_uid() {
            if meta.uid() != uid {
                return Err(format!(
                    "cache directory {shown} belongs to uid {}, not to us (uid {uid}): refused, \
                     since whoever can write the cache can hide malware from the scan",
                    meta.uid()
                ));
            }
        }
        check_parents(dir)?;
        let mode = meta.permissions().mode();
        if mode & 0o022 != 0 {
            return Err(format!(
                "cache directory {shown} is writable by group or others (mode {:o}): refused, \
                 since whoever can write the cache can hide malware from the scan (chmod 700 it \
                 or pick another --cache-dir)",
                mode & 0o7777
            ));
        }
        Ok(FsBackend {
            dir: dir.to_path_buf(),
            max_bytes,
            seq: AtomicU64::new(0),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}{SUFFIX}"))
    }

    /// (path, size, last use) of every entry.
    fn list(&self) -> Result<Vec<(PathBuf, u64, SystemTime)>, String> {
        let rd = fs::read_dir(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut out = Vec::new();
        for ent in rd.flatten() {
            let name = ent.file_name();
            if !name.to_string_lossy().ends_with(SUFFIX) {
                continue;
            }
            if let Ok(m) = ent.metadata() {
                if m.is_file() {
                    let t = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                    out.push((ent.path(), m.len(), t));
                }
            }
        }
        Ok(out)
    }

    /// Remove least recently used entries until the directory holds at most 90% of the
    /// maximum (so eviction does not run on every store).
    fn evict(&self) -> Result<(), String> {
        let mut all = self.list()?;
        let total: u64 = all.iter().map(|e| e.1).sum();
        if total <= self.max_bytes {
            return Ok(());
        }
        all.sort_by_key(|e| e.2);
        let target = self.max_bytes / 10 * 9;
        let mut left = total;
        for (p, size, _) in all {
            if left <= target {
                break;
            }
            // Another process may have removed it first: fine.
            let _ = fs::remove_file(&p);
            left = left.saturating_sub(size);
        }
        Ok(())
    }
}

/// Refuse `dir` when one of its parents lets someone else swap it: every ancestor of
/// its real path must belong to us or to root, and must not be writable by group or
/// others unless it has the sticky bit (`/tmp`: others may create entries there but
/// not rename or remove ours). Otherwise whoever owns or may write that parent could
/// rename our 0700 directory away and put their own in its place.
fn check_parents(dir: &Path) -> Result<(), String> {
    let real =
        fs::canonicalize(dir).map_err(|e| format!("cache directory {}: {e}", dir.display()))?;
    let uid = own_uid();
    let mut p = real.parent();
    while let Some(a) = p {
        let m = fs::metadata(a)
            .map_err(|e| format!("cache directory {}: {}: {e}", dir.display(), a.display()))?;
        let owner_ok = m.uid() == 0 || Some(m.uid()) == uid;
        let mode = m.permissions().mode();
        let sticky = mode & 0o1000 != 0;
        if !owner_ok {
            return Err(format!(
                "cache directory {}: its parent {} belongs to uid {}, who could replace the \
                 cache with their own: refused (pick a --cache-dir under a directory of yours \
                 or root's)",
                dir.display(),
                a.display(),
                m.uid()
            ));
        }
        if mode & 0o022 != 0 && !sticky {
            return Err(format!(
                "cache directory {}: its parent {} is writable by group or others without \
                 the sticky bit (mode {:o}), so anyone could replace the cache: refused",
                dir.display(),
                a.display(),
                mode & 0o7777
            ));
        }
        p = a.parent();
    }
    Ok(())
}

impl Backend for FsBackend {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let p = self.path(name);
        let f = match fs::File::open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", p.display())),
        };
        let mut buf = Vec::new();
        if let Err(e) = (&f).take(MAX_ENTRY_BYTES + 1).read_to_end(&mut buf) {
            return Err(format!("{}: {e}", p.display()));
        }
        if buf.len() as u64 > MAX_ENTRY_BYTES {
            return Ok(None);
        }
        // Last use, for eviction; failing to record it only makes eviction less exact.
        let _ = f.set_modified(SystemTime::now());
        Ok(Some(buf))
    }

    fn put(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .dir
            .join(format!(".tmp-{name}-{}-{seq}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(value)?;
            f.sync_data()?;
            fs::rename(&tmp, self.path(name))
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(format!("{}: {e}", self.dir.display()));
        }
        self.evict()
    }

    fn stats(&self) -> Result<(u64, u64), String> {
        let all = self.list()?;
        Ok((all.len() as u64, all.iter().map(|e| e.1).sum()))
    }

    fn clean(&self) -> Result<u64, String> {
        let mut n = 0;
        for (p, _, _) in self.list()? {
            if fs::remove_file(&p).is_ok() {
                n += 1;
            }
        }
        Ok(n)
    }

    fn describe(&self) -> String {
        format!("fs:{}", self.dir.display())
    }
}
