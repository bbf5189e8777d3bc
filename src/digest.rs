//! Digest verification while bytes stream: [`DigestReader`] hashes everything it passes
//! on and, at end of stream, fails unless the content matches the expected digest. It
//! also bounds how many bytes a blob may have.

use sha2::{Digest, Sha256};
use std::io::{self, Read};

/// `sha256:<hex>` of a byte slice.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Wraps a blob reader; returns an error at EOF when the content does not hash to
/// `expected`, or as soon as more than `max_bytes` arrive. The error text names the
/// expected and actual digest.
pub struct DigestReader<R> {
    inner: R,
    hasher: Sha256,
    expected: String,
    read: u64,
    max_bytes: u64,
    done: bool,
}

impl<R: Read> DigestReader<R> {
    /// `expected` must be `sha256:<64 hex>`; other algorithms are rejected up front.
    pub fn new(inner: R, expected: &str, max_bytes: u64) -> io::Result<Self> {
        if !expected.starts_with("sha256:") || !crate::reference::valid_digest(expected) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unsupported or malformed digest {expected:?} (want sha256:<64 hex>)"),
            ));
        }
        Ok(DigestReader {
            inner,
            hasher: Sha256::new(),
            expected: expected.to_string(),
            read: 0,
            max_bytes,
            done: false,
        })
    }

    /// Bytes passed through so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl<R: Read> Read for DigestReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.done = true;
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "digest mismatch: expected {}, got {actual} ({} bytes)",
                        self.expected, self.read
                    ),
                ));
            }
            return Ok(0);
        }
        self.read += n as u64;
        if self.read > self.max_bytes {
            self.done = true;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "blob {} is larger than the {}-byte limit (--max-blob-bytes)",
                    self.expected, self.max_bytes
                ),
            ));
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(r: &mut impl Read) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        r.read_to_end(&mut v).map(|_| v)
    }

    #[test]
    fn accepts_matching_content() {
        let data = b"hello layer".to_vec();
        let d = sha256_digest(&data);
        let mut r = DigestReader::new(&data[..], &d, 1 << 20).unwrap();
        assert_eq!(read_all(&mut r).unwrap(), data);
        assert_eq!(r.bytes_read(), data.len() as u64);
    }

    #[test]
    fn mismatch_names_both_digests() {
        let d = sha256_digest(b"expected");
        let mut r = DigestReader::new(&b"tampered"[..], &d, 1 << 20).unwrap();
        let e = read_all(&mut r).unwrap_err().to_string();
        assert!(e.contains(&d), "{e}");
        assert!(e.contains(&sha256_digest(b"tampered")), "{e}");
    }

    #[test]
    fn bounds_size_and_rejects_bad_digests() {
        let data = vec![0u8; 100];
        let d = sha256_digest(&data);
        let mut r = DigestReader::new(&data[..], &d, 10).unwrap();
        assert!(read_all(&mut r).unwrap_err().to_string().contains("limit"));
        assert!(DigestReader::new(&data[..], "md5:abc", 10).is_err());
        assert!(DigestReader::new(&data[..], "sha256:xyz", 10).is_err());
    }
}
