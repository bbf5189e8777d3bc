//! Layer entries and the uncompressed layer tar they make: regular files with a mode,
//! executables, directories, symlinks, hard links, whiteouts (`dir/.wh.name`), opaque
//! directories (`dir/.wh..wh..opq`) and regular files whose header name is written byte
//! for byte (hostile names the tar crate would refuse). Headers are GNU, owned by root,
//! with mtime [`MTIME`].

/// The mtime of every entry (2023-11-14T22:13:20Z).
pub const MTIME: u64 = 1_700_000_000;

/// One entry of a layer.
#[derive(Debug, Clone)]
pub enum Ent {
    File {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Dir {
        path: String,
        mode: u32,
    },
    Symlink {
        path: String,
        target: String,
    },
    Hardlink {
        path: String,
        target: String,
    },
    /// Deletes `path` from the layers below (`dir/.wh.name`).
    Whiteout(String),
    /// Makes the directory opaque (`dir/.wh..wh..opq`).
    Opaque(String),
    /// A regular file whose header name is written byte for byte (`../../etc/passwd`,
    /// `/abs/path`), bypassing the tar crate's path checks.
    RawName {
        name: String,
        data: Vec<u8>,
    },
}

impl Ent {
    /// A regular file, mode 0644.
    pub fn file(path: &str, data: impl AsRef<[u8]>) -> Ent {
        Ent::with_mode(path, 0o644, data)
    }
    /// A regular file, mode 0755.
    pub fn exe(path: &str, data: impl AsRef<[u8]>) -> Ent {
        Ent::with_mode(path, 0o755, data)
    }
    /// A regular file with `mode`.
    pub fn with_mode(path: &str, mode: u32, data: impl AsRef<[u8]>) -> Ent {
        Ent::File {
            path: path.into(),
            mode,
            data: data.as_ref().to_vec(),
        }
    }
    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Ent {
        Ent::Dir {
            path: path.into(),
            mode: 0o755,
        }
    }
    pub fn symlink(path: &str, target: &str) -> Ent {
        Ent::Symlink {
            path: path.into(),
            target: target.into(),
        }
    }
    pub fn hardlink(path: &str, target: &str) -> Ent {
        Ent::Hardlink {
            path: path.into(),
            target: target.into(),
        }
    }
    /// A whiteout deleting `path` from the layers below.
    pub fn whiteout(path: &str) -> Ent {
        Ent::Whiteout(path.into())
    }
}

/// A GNU header of `kind`, root-owned, mtime [`MTIME`].
pub fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(MTIME);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// An uncompressed layer tar of `entries`. Panics on a path the tar crate refuses (use
/// [`Ent::RawName`] for those).
pub fn layer_tar(entries: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        match e {
            Ent::File { path, mode, data } => {
                let mut h = header(tar::EntryType::Regular, *mode, data.len() as u64);
                b.append_data(&mut h, path, &data[..]).unwrap();
            }
            Ent::Dir { path, mode } => {
                let mut h = header(tar::EntryType::Directory, *mode, 0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Ent::Symlink { path, target } => {
                let mut h = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Ent::Hardlink { path, target } => {
                let mut h = header(tar::EntryType::Link, 0o644, 0);
                b.append_link(&mut h, path, target).unwrap();
            }
            Ent::Whiteout(path) => {
                let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
                let p = if dir.is_empty() {
                    format!(".wh.{name}")
                } else {
                    format!("{dir}/.wh.{name}")
                };
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            Ent::Opaque(dir) => {
                let mut h = header(tar::EntryType::Regular, 0o644, 0);
                b.append_data(&mut h, format!("{dir}/.wh..wh..opq"), &[][..])
                    .unwrap();
            }
            Ent::RawName { name, data } => {
                let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
                let gnu = h.as_gnu_mut().unwrap();
                gnu.name = [0; 100];
                gnu.name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_cksum();
                b.append(&h, &data[..]).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}
