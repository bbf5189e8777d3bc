//! Binary analyzer: executable formats read with goblin. For ELF: interpreter, static or
//! dynamic, stripped, section names, UPX packing (`UPX0`/`UPX1` sections; the `UPX!` marker
//! is a content signature), Go build info. PE and Mach-O: format and UPX sections.
//!
//! Bounded: only the first [`BUFFER_BYTES`] of a binary are buffered (one buffer reused for
//! every file). When a binary is larger, the header and program headers are still read
//! from that prefix; section-level facts (stripped, section names) are then not known and
//! the evidence says so. A header that does not parse is a LOW `IMG-MALFORMED-BINARY`
//! signal, never a crash (goblin runs under `catch_unwind` as a last resort).

use super::{Analyzer, FileCtx, Signal, SignalKind};
use goblin::elf::{program_header, Elf, ProgramHeader};

/// Bytes of one binary buffered for header parsing.
pub const BUFFER_BYTES: usize = 8 << 20;

/// Executable formats recognised from their magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Elf,
    Pe,
    MachO,
}

/// The executable format `head` starts with.
pub fn format_of(head: &[u8]) -> Option<Format> {
    match head {
        [0x7f, b'E', b'L', b'F', ..] => Some(Format::Elf),
        [b'M', b'Z', ..] if head.len() >= 64 => Some(Format::Pe),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf, ..]
        | [0xce | 0xcf, 0xfa, 0xed, 0xfe, ..]
        | [0xca, 0xfe, 0xba, 0xbe, ..] => Some(Format::MachO),
        _ => None,
    }
}

/// Facts about one binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BinaryFacts {
    pub format: String,
    pub interpreter: Option<String>,
    pub is_static: bool,
    /// `None` when the section headers were beyond the buffered prefix.
    pub stripped: Option<bool>,
    pub upx_sections: bool,
    pub go_version: Option<String>,
    pub sections_read: bool,
}

impl BinaryFacts {
    pub fn describe(&self) -> String {
        let mut parts = vec![self.format.clone()];
        if self.format == "ELF" {
            parts.push(if self.is_static { "static" } else { "dynamic" }.into());
            if let Some(i) = &self.interpreter {
                parts.push(format!("interpreter {i}"));
            }
            match self.stripped {
                Some(true) => parts.push("stripped".into()),
                Some(false) => parts.push("not stripped".into()),
                None => {}
            }
        }
        if let Some(v) = &self.go_version {
            parts.push(format!("Go {v}"));
        }
        if self.upx_sections {
            parts.push("UPX sections".into());
        }
        if !self.sections_read {
            parts.push(format!(
                "sections not read (only the first {} MiB are buffered)",
                BUFFER_BYTES >> 20
            ));
        }
        parts.join(", ")
    }
}

/// Parse `bytes` (a prefix of the file when `truncated`). Err = malformed header.
pub fn analyze(bytes: &[u8], truncated: bool) -> Result<BinaryFacts, String> {
    let r = std::panic::catch_unwind(|| analyze_inner(bytes, truncated));
    r.unwrap_or_else(|_| Err("the parser gave up on this header".into()))
}

fn analyze_inner(bytes: &[u8], truncated: bool) -> Result<BinaryFacts, String> {
    let mut f = BinaryFacts {
        go_version: go_version(bytes),
        ..Default::default()
    };
    match format_of(bytes) {
        Some(Format::Elf) => {
            f.format = "ELF".into();
            match Elf::parse(bytes) {
                Ok(elf) => {
                    f.interpreter = elf.interpreter.map(str::to_string);
                    f.is_static = elf.interpreter.is_none() && elf.dynamic.is_none();
                    f.sections_read = true;
                    f.stripped = Some(elf.syms.is_empty());
                    f.upx_sections = elf.section_headers.iter().any(|sh| {
                        matches!(elf.shdr_strtab.get_at(sh.sh_name), Some("UPX0" | "UPX1"))
                    });
                }
                Err(e) if !truncated => return Err(format!("ELF: {e}")),
                Err(_) => {
                    // The section headers lie past the buffered prefix: header and
                    // program headers only.
                    let h = Elf::parse_header(bytes).map_err(|e| format!("ELF header: {e}"))?;
                    let ctx = goblin::container::Ctx::new(
                        h.container().map_err(|e| e.to_string())?,
                        h.endianness().map_err(|e| e.to_string())?,
                    );
                    let phs =
                        ProgramHeader::parse(bytes, h.e_phoff as usize, h.e_phnum as usize, ctx)
                            .map_err(|e| format!("ELF program headers: {e}"))?;
                    f.interpreter = phs
                        .iter()
                        .find(|p| p.p_type == program_header::PT_INTERP)
                        .and_then(|p| {
                            let s = p.p_offset as usize;
                            let e = s.checked_add(p.p_filesz as usize)?;
                            let raw = bytes.get(s..e)?;
                            let raw = raw.split(|&b| b == 0).next()?;
                            Some(String::from_utf8_lossy(raw).into_owned())
                        });
                    let dynamic = phs.iter().any(|p| p.p_type == program_header::PT_DYNAMIC);
                    f.is_static = f.interpreter.is_none() && !dynamic;
                }
            }
        }
        Some(Format::Pe) => {
            f.format = "PE".into();
            match goblin::pe::PE::parse(bytes) {
                Ok(pe) => {
                    f.sections_read = true;
                    f.upx_sections = pe
                        .sections
                        .iter()
                        .any(|s| s.name().is_ok_and(|n| n.starts_with("UPX")));
                }
                Err(e) if !truncated => return Err(format!("PE: {e}")),
                Err(_) => {}
            }
        }
        Some(Format::MachO) => {
            f.format = "Mach-O".into();
            match goblin::mach::Mach::parse(bytes) {
                Ok(_) => f.sections_read = true,
                Err(e) if !truncated => return Err(format!("Mach-O: {e}")),
                Err(_) => {}
            }
        }
        None => return Err("not an executable format".into()),
    }
    Ok(f)
}

/// The Go toolchain version from the `\xff Go buildinf:` blob (Go 1.18+ inline format).
fn go_version(bytes: &[u8]) -> Option<String> {
    const MAGIC: &[u8] = b"\xff Go buildinf:";
    let pos = memchr::memmem::find(bytes, MAGIC)?;
    let flags = *bytes.get(pos + 15)?;
    if flags & 2 == 0 {
        return Some("(pre-1.18 build info)".into());
    }
    let mut i = pos + 32;
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let b = *bytes.get(i)?;
        len |= ((b & 0x7f) as usize) << shift;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    let v = bytes.get(i..i.checked_add(len.min(64))?)?;
    Some(String::from_utf8_lossy(v).into_owned())
}

/// The binary analyzer: wants files that start with an executable magic.
#[derive(Default)]
pub struct BinaryAnalyzer {
    buf: Vec<u8>,
    over: bool,
}

impl Analyzer for BinaryAnalyzer {
    fn name(&self) -> &'static str {
        "binary"
    }
    fn file_start(&mut self, file: &FileCtx) -> bool {
        self.buf.clear();
        self.over = false;
        file.is_binary()
    }
    fn file_chunk(&mut self, data: &[u8], _offset: u64) {
        let room = BUFFER_BYTES - self.buf.len();
        if data.len() > room {
            self.over = true;
        }
        self.buf.extend_from_slice(&data[..data.len().min(room)]);
    }
    fn file_end(&mut self, file: &FileCtx, truncated: bool, out: &mut Vec<Signal>) {
        if !file.is_binary() {
            return;
        }
        let truncated = truncated || self.over || (self.buf.len() as u64) < file.entry.size;
        let subject = file.subject();
        match analyze(&self.buf, truncated) {
            Ok(f) => {
                out.push(Signal {
                    line: None,
                    subject: subject.clone(),
                    kind: SignalKind::Binary,
                    signature: format!("binary:{}", f.format.to_ascii_lowercase()),
                    offset: None,
                    excerpt: f.describe(),
                });
                if f.upx_sections {
                    out.push(Signal {
                        line: None,
                        subject,
                        kind: SignalKind::Packed,
                        signature: "upx-sections".into(),
                        offset: None,
                        excerpt: "UPX0/UPX1 sections".into(),
                    });
                }
            }
            Err(why) => out.push(Signal {
                line: None,
                subject,
                kind: SignalKind::Malformed,
                signature: "malformed-header".into(),
                offset: Some(0),
                excerpt: why,
            }),
        }
        self.buf.clear();
        if self.buf.capacity() > BUFFER_BYTES {
            self.buf.shrink_to(BUFFER_BYTES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use imgscan_testkit::tiny_elf;

    #[test]
    fn tiny_static_elf_parses() {
        let f = analyze(&tiny_elf(b"hello"), false).unwrap();
        assert_eq!(f.format, "ELF");
        assert!(f.is_static);
        assert_eq!(f.interpreter, None);
        assert_eq!(f.stripped, Some(true));
        assert!(!f.upx_sections);
    }

    #[test]
    fn host_binary_is_dynamic_with_interpreter() {
        let bytes = std::fs::read("/bin/sh").unwrap();
        let f = analyze(&bytes, false).unwrap();
        assert!(!f.is_static);
        assert!(f.interpreter.unwrap().contains("ld-linux"));
        // Prefix only: still knows the interpreter, says sections were not read.
        let f = analyze(&bytes[..4096.min(bytes.len())], true).unwrap();
        assert!(f.interpreter.is_some(), "{f:?}");
        assert!(f.describe().contains("not read") || f.sections_read);
    }

    #[test]
    fn malformed_headers_are_errors_not_panics() {
        assert!(analyze(b"\x7fELF\x02\x01\x01garbage", false).is_err());
        let mut e = tiny_elf(b"");
        e[32..40].copy_from_slice(&u64::MAX.to_le_bytes()); // phoff far away
        assert!(analyze(&e, false).is_err());
        let mut mz = b"MZ".to_vec();
        mz.extend(std::iter::repeat_n(0xffu8, 200));
        assert!(analyze(&mz, false).is_err());
    }

    #[test]
    fn go_build_info_version() {
        let mut b = tiny_elf(b"");
        b.extend_from_slice(b"\xff Go buildinf:\x08\x02");
        b.extend_from_slice(&[0u8; 16]);
        b.push(8);
        b.extend_from_slice(b"go1.22.1");
        assert_eq!(
            analyze(&b, false).unwrap().go_version.as_deref(),
            Some("go1.22.1")
        );
    }
}
