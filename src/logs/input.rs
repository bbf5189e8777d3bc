//! Reading log inputs: files, directories (recursively, sorted), gzip files (as
//! delivered to S3; bounded against bombs) and `-` (standard input). Each file is sniffed
//! on its own unless a format is given. JSON inputs are read a line at a time when the
//! first line is a whole JSON value, otherwise as JSON documents (pretty-printed files,
//! `{"Records": [...]}`); every line and document is bounded ([`Limits`]). A record that
//! cannot be read or converted is reported with its position and skipped; the rest runs.

use super::{adapter, sniff, Adapter, Format, Out, Record};
use crate::rules::Event;
use serde_json::Value;
use std::io::{BufRead, BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

/// Bounds on what one input may make us hold.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest line (bytes) of a line-oriented input (UDM keeps its 1 MiB).
    pub max_line: usize,
    /// Largest multi-line JSON document (bytes).
    pub max_doc: usize,
    /// Largest decompressed size of one gzip input (bytes).
    pub max_decompressed: u64,
    /// Most files taken from directories.
    pub max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 16 << 20,
            max_doc: 32 << 20,
            max_decompressed: 4 << 30,
            max_files: 100_000,
        }
    }
}

/// Longest UDM line (as `imgscan events` always accepted).
pub const MAX_UDM_LINE: usize = 1 << 20;

/// One converted event and where it came from.
pub struct Converted {
    /// `FILE:LINE[#record][ id=...]`, or `line N...` when there is a single input file.
    pub source: String,
    /// 1-based line of the source record in its file.
    pub line: usize,
    pub event: Event,
}

pub enum Item {
    Event(Converted),
    /// A record or input that could not be read, with its position.
    Problem(String),
}

/// Read `paths` (files, directories, `-`) as `format` (or sniffed per file with
/// [`Format::Auto`]) and hand every event and problem to `sink`, in input order.
pub fn read_inputs(paths: &[String], format: Format, sink: &mut dyn FnMut(Item)) {
    read_inputs_with(paths, format, &Limits::default(), sink)
}

pub fn read_inputs_with(
    paths: &[String],
    format: Format,
    limits: &Limits,
    sink: &mut dyn FnMut(Item),
) {
    let mut files: Vec<String> = vec![];
    let mut any_dir = false;
    for p in paths {
        if p != "-" && Path::new(p).is_dir() {
            any_dir = true;
            let mut found = vec![];
            walk(Path::new(p), 0, limits.max_files, &mut found, sink);
            found.sort();
            files.extend(found.into_iter().map(|f| f.display().to_string()));
        } else {
            files.push(p.clone());
        }
    }
    let show_file = any_dir || files.len() > 1;
    for f in files {
        let name = if f == "-" {
            "stdin".to_string()
        } else {
            f.clone()
        };
        let ctx = Ctx { name, show_file };
        let raw: Box<dyn Read> = if f == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            match std::fs::File::open(&f) {
                Ok(h) => Box::new(h),
                Err(e) => {
                    sink(Item::Problem(format!("{f}: {e}")));
                    continue;
                }
            }
        };
        read_one(raw, &ctx, format, limits, sink);
    }
}

/// Read one input already open as `raw` (named `name` in positions), as `format` or
/// sniffed with [`Format::Auto`]: what [`read_inputs_with`] does for each file. The
/// entry point of the log fuzz target.
pub fn read_reader(
    raw: Box<dyn Read>,
    name: &str,
    format: Format,
    limits: &Limits,
    sink: &mut dyn FnMut(Item),
) {
    let ctx = Ctx {
        name: name.to_string(),
        show_file: false,
    };
    read_one(raw, &ctx, format, limits, sink);
}

fn walk(d: &Path, depth: usize, max: usize, out: &mut Vec<PathBuf>, sink: &mut dyn FnMut(Item)) {
    if depth > 16 {
        sink(Item::Problem(format!(
            "{}: nested too deep; skipped",
            d.display()
        )));
        return;
    }
    let rd = match std::fs::read_dir(d) {
        Ok(r) => r,
        Err(e) => {
            sink(Item::Problem(format!("{}: {e}", d.display())));
            return;
        }
    };
    for e in rd.flatten() {
        if out.len() >= max {
            sink(Item::Problem(format!(
                "{}: more than {max} files; the rest were skipped",
                d.display()
            )));
            return;
        }
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => walk(&p, depth + 1, max, out, sink),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
}

pub(super) struct Ctx {
    pub(super) name: String,
    pub(super) show_file: bool,
}

impl Ctx {
    pub(super) fn pos(&self, line: usize) -> String {
        if self.show_file {
            format!("{}:{line}", self.name)
        } else {
            format!("line {line}")
        }
    }
}

/// A reader that fails once more than `cap` bytes came out of it.
struct Capped<R> {
    inner: R,
    left: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut b = [0u8; 1];
            return match self.inner.read(&mut b)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "decompressed data exceeds {} bytes (a gzip bomb?); the rest was not read",
                    self.cap
                ))),
            };
        }
        let n = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let r = self.inner.read(&mut buf[..n])?;
        self.left -= r as u64;
        Ok(r)
    }
}

/// Read up to `n` bytes (fewer only at end of input).
fn read_head(r: &mut dyn Read, n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n.min(1 << 16));
    r.take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

fn read_one(
    raw: Box<dyn Read>,
    ctx: &Ctx,
    format: Format,
    limits: &Limits,
    sink: &mut dyn FnMut(Item),
) {
    let mut raw = raw;
    let magic = match read_head(&mut raw, 2) {
        Ok(m) => m,
        Err(e) => return sink(Item::Problem(format!("{}: {e}", ctx.name))),
    };
    let joined = Cursor::new(magic.clone()).chain(raw);
    let mut plain: Box<dyn Read> = if magic == [0x1f, 0x8b] {
        Box::new(Capped {
            inner: flate2::read::MultiGzDecoder::new(joined),
            left: limits.max_decompressed,
            cap: limits.max_decompressed,
        })
    } else {
        Box::new(joined)
    };
    let head = match read_head(&mut plain, 1 << 16) {
        Ok(h) => h,
        Err(e) => return sink(Item::Problem(format!("{}: {e}", ctx.name))),
    };
    let format = if format == Format::Auto {
        sniff(&head)
    } else {
        format
    };
    let Some(mut ad) = adapter(format) else {
        return sink(Item::Problem(format!(
            "{}: input format {} is not supported yet; skipped",
            ctx.name,
            format.name()
        )));
    };
    // Line mode unless a JSON file's first line is not a whole JSON value.
    let first_line = head
        .split(|&b| b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
        .unwrap_or(&[]);
    let complete_first = head.contains(&b'\n') || head.len() < 1 << 16;
    let lines = format == Format::Udm
        || format.is_text()
        || !complete_first
        || serde_json::from_slice::<serde::de::IgnoredAny>(first_line).is_ok();
    let max_line = if format == Format::Udm {
        MAX_UDM_LINE
    } else {
        limits.max_line
    };
    let mut r = BufReader::with_capacity(1 << 16, Cursor::new(head).chain(plain));
    let mut outs = vec![];
    if lines {
        read_lines(&mut r, ctx, format, max_line, ad.as_mut(), &mut outs, sink);
    } else {
        read_documents(&mut r, ctx, limits.max_doc, ad.as_mut(), &mut outs, sink);
    }
    ad.finish(&mut outs);
    emit(ctx, None, &mut outs, sink);
}

pub(super) fn emit(ctx: &Ctx, rec: Option<usize>, outs: &mut Vec<Out>, sink: &mut dyn FnMut(Item)) {
    for o in outs.drain(..) {
        let mut source = ctx.pos(o.line);
        if let Some(i) = rec {
            source.push_str(&format!("#{i}"));
        }
        if let Some(id) = o
            .udm
            .get("metadata")
            .and_then(|m| m.get("product_log_id"))
            .and_then(Value::as_str)
        {
            source.push_str(&format!(" id={id}"));
        }
        match Event::from_json(o.udm) {
            Ok(event) => sink(Item::Event(Converted {
                source,
                line: o.line,
                event,
            })),
            Err(m) => sink(Item::Problem(format!("{source}: {m}; skipped"))),
        }
    }
}

/// The records in one JSON value: the elements of a top-level array or of a
/// `Records`/`records` array, or the value itself.
fn records(v: Value) -> (bool, Vec<Value>) {
    match v {
        Value::Array(a) => (true, a),
        Value::Object(mut m) => {
            for k in ["Records", "records"] {
                if m.get(k).is_some_and(Value::is_array) && m.len() <= 2 {
                    if let Some(Value::Array(a)) = m.remove(k) {
                        return (true, a);
                    }
                }
            }
            (false, vec![Value::Object(m)])
        }
        other => (false, vec![other]),
    }
}

fn convert_value(
    v: Value,
    line: usize,
    ctx: &Ctx,
    ad: &mut dyn Adapter,
    outs: &mut Vec<Out>,
    sink: &mut dyn FnMut(Item),
) {
    // UDM input is one event per value, as `imgscan events` always read it.
    let (split, recs) = if ad.splits() {
        records(v)
    } else {
        (false, vec![v])
    };
    for (i, r) in recs.iter().enumerate() {
        let idx = split.then_some(i + 1);
        if let Err(m) = ad.convert(Record::Json(r), line, outs) {
            let mut pos = ctx.pos(line);
            if let Some(i) = idx {
                pos.push_str(&format!("#{i}"));
            }
            sink(Item::Problem(format!("{pos}: {m}; skipped")));
        }
        emit(ctx, idx, outs, sink);
    }
}

#[allow(clippy::too_many_arguments)]
fn read_lines(
    r: &mut dyn BufRead,
    ctx: &Ctx,
    format: Format,
    max_line: usize,
    ad: &mut dyn Adapter,
    outs: &mut Vec<Out>,
    sink: &mut dyn FnMut(Item),
) {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        match read_line_bounded(r, &mut buf, max_line) {
            Ok(None) => break,
            Ok(Some(fits)) => {
                line += 1;
                if !fits {
                    sink(Item::Problem(format!(
                        "{}: longer than {max_line} bytes; skipped",
                        ctx.pos(line)
                    )));
                    continue;
                }
                one_line(&buf, line, ctx, format, ad, outs, sink);
            }
            Err(e) => {
                sink(Item::Problem(format!(
                    "{}: after line {line}: read error: {e}",
                    ctx.name
                )));
                break;
            }
        }
    }
}

/// Convert one complete line (without its newline) at `line` and emit what it gives.
pub(super) fn one_line(
    buf: &[u8],
    line: usize,
    ctx: &Ctx,
    format: Format,
    ad: &mut dyn Adapter,
    outs: &mut Vec<Out>,
    sink: &mut dyn FnMut(Item),
) {
    if buf.iter().all(|b| b.is_ascii_whitespace()) {
        return;
    }
    if format.is_text() {
        let text = match std::str::from_utf8(buf) {
            Ok(t) => t.trim_end_matches('\r'),
            Err(e) => {
                return sink(Item::Problem(format!(
                    "{}: not UTF-8 ({e}); skipped",
                    ctx.pos(line)
                )));
            }
        };
        if let Err(m) = ad.convert(Record::Text(text), line, outs) {
            sink(Item::Problem(format!("{}: {m}; skipped", ctx.pos(line))));
        }
        return emit(ctx, None, outs, sink);
    }
    let parsed = match ad.keep() {
        Some(keep) => super::json::parse_kept(buf, keep),
        None => serde_json::from_slice::<Value>(buf),
    };
    match parsed {
        Ok(v) => convert_value(v, line, ctx, ad, outs, sink),
        Err(e) => sink(Item::Problem(format!("{}: {e}; skipped", ctx.pos(line)))),
    }
}

fn read_documents(
    r: &mut dyn BufRead,
    ctx: &Ctx,
    max_doc: usize,
    ad: &mut dyn Adapter,
    outs: &mut Vec<Out>,
    sink: &mut dyn FnMut(Item),
) {
    let data = match read_head(r, max_doc + 1) {
        Ok(d) => d,
        Err(e) => {
            return sink(Item::Problem(format!("{}: read error: {e}", ctx.name)));
        }
    };
    if data.len() > max_doc {
        return sink(Item::Problem(format!(
            "{}: a multi-line JSON document longer than {max_doc} bytes; skipped",
            ctx.pos(1)
        )));
    }
    let mut stream = serde_json::Deserializer::from_slice(&data).into_iter::<Value>();
    let mut start = 0usize;
    let mut line = 1usize;
    loop {
        // The line where the next value starts.
        let rest = &data[start..];
        let skip = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(rest.len());
        line += rest[..skip].iter().filter(|&&b| b == b'\n').count();
        start += skip;
        let Some(item) = stream.next() else { break };
        match item {
            Ok(v) => {
                let end = stream.byte_offset();
                convert_value(v, line, ctx, ad, outs, sink);
                line += data[start..end].iter().filter(|&&b| b == b'\n').count();
                start = end;
            }
            Err(e) => {
                sink(Item::Problem(format!(
                    "{}: {e}; the rest of the file was skipped",
                    ctx.pos(e.line().max(1))
                )));
                break;
            }
        }
    }
}

/// Read one line of at most `max` bytes into `buf` (without the newline). Returns
/// `Ok(None)` at end of input, `Ok(Some(false))` when the line was longer (the rest of
/// it is skipped without being held).
pub fn read_line_bounded(
    r: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            return Ok(if any { Some(fits) } else { None });
        }
        any = true;
        let (part, done) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if fits {
            if buf.len() + part.len() > max {
                fits = false;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        match done {
            Some(n) => {
                r.consume(n);
                return Ok(Some(fits));
            }
            None => {
                let n = chunk.len();
                r.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_lines() {
        let data = b"abc\n0123456789\nxy";
        let mut r = BufReader::with_capacity(4, &data[..]);
        let mut buf = vec![];
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"abc");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(false));
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), Some(true));
        assert_eq!(buf, b"xy");
        assert_eq!(read_line_bounded(&mut r, &mut buf, 5).unwrap(), None);
    }

    #[test]
    fn capped_reader_fails_past_the_cap() {
        let mut c = Capped {
            inner: &[0u8; 10][..],
            left: 4,
            cap: 4,
        };
        let mut out = vec![];
        let e = c.read_to_end(&mut out).unwrap_err();
        assert_eq!(out.len(), 4);
        assert!(e.to_string().contains("exceeds 4 bytes"));
    }
}
