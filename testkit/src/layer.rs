//! Layer blobs: compression (gzip at `Compression::fast`, zstd level 3, or none), a blob
//! with its media type and diff_id, arbitrary bytes under any media type (hostile
//! fixtures), and gzip bombs built in milliseconds.

use crate::entries::{header, layer_tar, Ent};
use crate::sha256;
use flate2::write::GzEncoder;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    Gzip,
    Zstd,
    None,
}

/// `data` compressed with `c`.
pub fn compress(data: &[u8], c: Comp) -> Vec<u8> {
    match c {
        Comp::None => data.to_vec(),
        Comp::Gzip => {
            let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        }
        Comp::Zstd => zstd::encode_all(data, 3).unwrap(),
    }
}

/// A layer blob as stored, with its media type and diff_id.
#[derive(Debug, Clone)]
pub struct Layer {
    pub blob: Vec<u8>,
    pub media_type: String,
    pub diff_id: String,
}

impl Layer {
    pub fn new(entries: &[Ent], c: Comp) -> Layer {
        let tar = layer_tar(entries);
        Layer::from_tar(&tar, c)
    }
    pub fn from_tar(tar: &[u8], c: Comp) -> Layer {
        let media_type = match c {
            Comp::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Comp::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            Comp::None => "application/vnd.oci.image.layer.v1.tar",
        };
        Layer {
            blob: compress(tar, c),
            media_type: media_type.into(),
            diff_id: sha256(tar),
        }
    }
    /// Arbitrary bytes under an arbitrary media type (hostile fixtures).
    pub fn raw(blob: Vec<u8>, media_type: &str) -> Layer {
        Layer {
            diff_id: sha256(&blob),
            blob,
            media_type: media_type.into(),
        }
    }
}

/// A gzip layer that decompresses to a tar holding one file of `zero_bytes` zeros,
/// written as concatenated gzip members (one per MiB of zeros) so it is built in
/// milliseconds: ~1 KiB per MiB, so 10 GiB of zeros is ~10 MiB compressed.
pub fn gzip_bomb(zero_bytes: u64) -> Vec<u8> {
    const MIB: u64 = 1 << 20;
    assert!(zero_bytes.is_multiple_of(MIB));
    let mut h = header(tar::EntryType::Regular, 0o644, zero_bytes);
    h.set_path("zeros").unwrap();
    h.set_cksum();
    let mut out = compress(h.as_bytes(), Comp::Gzip);
    let mut e = GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; MIB as usize]).unwrap();
    let chunk = e.finish().unwrap();
    for _ in 0..zero_bytes / MIB {
        out.extend_from_slice(&chunk);
    }
    out.extend_from_slice(&compress(&[0u8; 1024], Comp::Gzip));
    out
}
