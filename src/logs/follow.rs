//! `imgscan events --follow`: tail growing log files (a directory: its newest file) as a
//! sidecar would, across rotation, with bounded memory, until a stop flag is raised
//! (SIGINT / SIGTERM through [`stop_on_signals`]).
//!
//! ```no_run
//! use imgscan::logs::{follow, Format, Item};
//! let stop = follow::stop_on_signals();
//! follow::follow(&["/var/log/falco.json".into()], Format::Auto, &Default::default(), &stop,
//!     &mut |t| if let follow::Tick::Item(Item::Event(c)) = t { println!("{}", c.source) });
//! ```
//!
//! Model: every [`POLL`] each input is `stat`ed and read from where it was left to its
//! current end. A new inode at the path (rename + create, as logrotate does) makes the
//! old file be read to its end first, then the new one from its start; a file shorter
//! than what was read (copytruncate) is read again from its start. Only complete lines
//! are converted: a partial last line is held until its newline comes, and no more than
//! the line bound of it (a longer line is reported and skipped without being held).
//! When no input grew, [`Tick::Idle`] lets the caller flush what waits for more input.
//!
//! Why polling rather than inotify: rotation has to be detected by `stat` anyway (an
//! inotify watch follows the inode, not the path), polling works the same on overlay,
//! NFS and Kubernetes volume mounts where inotify events can be missing, and it needs no
//! new dependency. One `stat` per input every 250 ms keeps an idle follower at ~0 CPU;
//! the cost is up to 250 ms of latency. Line-oriented inputs only: JSON lines and the
//! text formats (pretty-printed multi-line JSON and gzip files cannot be followed).

use super::input::{emit, one_line, Ctx, MAX_UDM_LINE};
use super::{adapter, sniff, Adapter, Format, Item, Limits, Out};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a follower sleeps when no input grew.
pub const POLL: Duration = Duration::from_millis(250);

/// What a follower hands its caller.
pub enum Tick {
    Item(Item),
    /// No input grew during the last poll.
    Idle,
}

/// A flag raised on SIGINT or SIGTERM (watched by a thread of its own).
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build();
    match rt {
        Ok(rt) => {
            // Register before returning, so a signal sent right after start is seen.
            let term = rt.block_on(async {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            });
            let int = rt.block_on(async {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            });
            if let (Ok(mut term), Ok(mut int)) = (term, int) {
                std::thread::spawn(move || {
                    rt.block_on(async {
                        tokio::select! {
                            _ = term.recv() => {}
                            _ = int.recv() => {}
                        }
                    });
                    f.store(true, Ordering::SeqCst);
                });
            }
        }
        Err(e) => eprintln!("imgscan: cannot watch for signals: {e}"),
    }
    flag
}

/// Follow `paths` (files or directories) until `stop` is raised.
pub fn follow(
    paths: &[String],
    format: Format,
    limits: &Limits,
    stop: &AtomicBool,
    tick: &mut dyn FnMut(Tick),
) {
    let show_file = paths.len() > 1 || paths.iter().any(|p| Path::new(p).is_dir());
    let mut tails: Vec<Tail> = paths
        .iter()
        .map(|p| Tail {
            given: PathBuf::from(p),
            format,
            show_file,
            max_line: limits.max_line,
            cur: None,
            missing_said: false,
        })
        .collect();
    let mut buf = vec![0u8; 1 << 16];
    let mut idle_said = false;
    while !stop.load(Ordering::SeqCst) {
        let mut grew = false;
        for t in &mut tails {
            grew |= t.poll(&mut buf, tick);
        }
        if grew {
            idle_said = false;
            continue;
        }
        if !idle_said {
            for t in &mut tails {
                t.flush_pending(tick);
            }
            tick(Tick::Idle);
            idle_said = true;
        } else {
            tick(Tick::Idle);
        }
        std::thread::sleep(POLL);
    }
    for t in &mut tails {
        if let Some(mut o) = t.cur.take() {
            o.read_to_end(&mut buf, tick);
            o.close(tick);
        }
    }
}

struct Tail {
    given: PathBuf,
    format: Format,
    show_file: bool,
    max_line: usize,
    cur: Option<Open>,
    missing_said: bool,
}

/// The file being read.
struct Open {
    file: File,
    id: (u64, u64),
    pos: u64,
    ctx: Ctx,
    /// Requested format, or the sniffed one once the first line came.
    format: Format,
    ad: Option<Box<dyn Adapter>>,
    max_line: usize,
    partial: Vec<u8>,
    /// The current line is past the bound: skip to its newline.
    overflow: bool,
    line: usize,
    outs: Vec<Out>,
    /// Not readable (gzip); ignored until it is replaced.
    dead: bool,
}

impl Tail {
    /// The file to read now: the path itself, or a directory's newest regular file.
    fn target(&self) -> Option<PathBuf> {
        if !self.given.is_dir() {
            return Some(self.given.clone());
        }
        let rd = std::fs::read_dir(&self.given).ok()?;
        rd.flatten()
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                m.is_file().then(|| (m.mtime(), m.mtime_nsec(), e.path()))
            })
            .max()
            .map(|x| x.2)
    }

    /// Read what is new; returns whether any byte was read.
    fn poll(&mut self, buf: &mut [u8], tick: &mut dyn FnMut(Tick)) -> bool {
        let target = self.target();
        let meta = target
            .as_ref()
            .and_then(|t| Some((t, std::fs::metadata(t).ok()?)));
        let Some((path, meta)) = meta else {
            if !self.missing_said && self.cur.is_none() {
                self.missing_said = true;
                tick(Tick::Item(Item::Problem(format!(
                    "{}: not there yet; waiting for it",
                    self.given.display()
                ))));
            }
            // Renamed away and not yet recreated: finish reading the old file.
            return self.cur.as_mut().is_some_and(|o| o.read_to_end(buf, tick));
        };
        let id = (meta.dev(), meta.ino());
        let mut grew = false;
        let replaced = self
            .cur
            .as_ref()
            .is_some_and(|o| o.id != id || o.ctx.name != path.display().to_string());
        if replaced {
            if let Some(mut o) = self.cur.take() {
                grew |= o.read_to_end(buf, tick);
                o.close(tick);
            }
        }
        if self.cur.is_none() {
            match File::open(path) {
                Ok(file) => {
                    self.cur = Some(Open {
                        file,
                        id,
                        pos: 0,
                        ctx: Ctx {
                            name: path.display().to_string(),
                            show_file: self.show_file,
                        },
                        format: self.format,
                        ad: None,
                        max_line: self.max_line,
                        partial: vec![],
                        overflow: false,
                        line: 0,
                        outs: vec![],
                        dead: false,
                    })
                }
                Err(e) => {
                    if !self.missing_said {
                        self.missing_said = true;
                        tick(Tick::Item(Item::Problem(format!(
                            "{}: {e}",
                            path.display()
                        ))));
                    }
                    return grew;
                }
            }
        }
        let Some(o) = self.cur.as_mut() else {
            return grew;
        };
        if meta.len() < o.pos {
            // copytruncate: what was read is gone; the file starts over.
            o.pos = 0;
            o.line = 0;
            o.partial = vec![];
            o.overflow = false;
            o.dead = false;
            if let Err(e) = o.file.seek(SeekFrom::Start(0)) {
                tick(Tick::Item(Item::Problem(format!("{}: {e}", o.ctx.name))));
            }
        }
        grew | o.read_to_end(buf, tick)
    }

    fn flush_pending(&mut self, tick: &mut dyn FnMut(Tick)) {
        if let Some(o) = self.cur.as_mut() {
            if let Some(ad) = o.ad.as_mut() {
                ad.finish(&mut o.outs);
                emit(&o.ctx, None, &mut o.outs, &mut |i| tick(Tick::Item(i)));
            }
        }
    }
}

impl Open {
    /// Read from `pos` to the current end; returns whether any byte was read.
    fn read_to_end(&mut self, buf: &mut [u8], tick: &mut dyn FnMut(Tick)) -> bool {
        let mut any = false;
        while !self.dead {
            let n = match self.file.read(buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tick(Tick::Item(Item::Problem(format!(
                        "{}: after line {}: read error: {e}",
                        self.ctx.name, self.line
                    ))));
                    break;
                }
            };
            if self.pos == 0 && buf[..n].starts_with(&[0x1f, 0x8b]) {
                tick(Tick::Item(Item::Problem(format!(
                    "{}: a gzip file cannot be followed; skipped",
                    self.ctx.name
                ))));
                self.dead = true;
            }
            self.pos += n as u64;
            any = true;
            if !self.dead {
                self.take(&buf[..n], tick);
            }
        }
        any
    }

    /// Split `data` into lines, holding a partial last line up to the bound.
    fn take(&mut self, mut data: &[u8], tick: &mut dyn FnMut(Tick)) {
        while !data.is_empty() {
            let (part, rest, done) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..i], &data[i + 1..], true),
                None => (data, &[][..], false),
            };
            data = rest;
            if !self.overflow {
                if self.partial.len() + part.len() > self.max_line {
                    self.overflow = true;
                    self.partial = vec![];
                } else {
                    self.partial.extend_from_slice(part);
                }
            }
            if done {
                self.end_line(tick);
            }
        }
    }

    /// The held line is complete.
    fn end_line(&mut self, tick: &mut dyn FnMut(Tick)) {
        self.line += 1;
        let mut sink = |i| tick(Tick::Item(i));
        if self.overflow {
            self.overflow = false;
            return sink(Item::Problem(format!(
                "{}: longer than {} bytes; skipped",
                self.ctx.pos(self.line),
                self.max_line
            )));
        }
        let line = std::mem::take(&mut self.partial);
        if self.ad.is_none() {
            if line.iter().all(u8::is_ascii_whitespace) {
                return;
            }
            if self.format == Format::Auto {
                self.format = sniff(&line);
            }
            if self.format == Format::Udm {
                self.max_line = self.max_line.min(MAX_UDM_LINE);
            }
            self.ad = adapter(self.format);
        }
        if let Some(ad) = self.ad.as_mut() {
            one_line(
                &line,
                self.line,
                &self.ctx,
                self.format,
                ad.as_mut(),
                &mut self.outs,
                &mut sink,
            );
        }
        // Keep the buffer's capacity only while it is small.
        if line.capacity() <= 1 << 16 {
            self.partial = line;
            self.partial.clear();
        }
    }

    /// The file was replaced or following stops: its last line counts without a newline.
    fn close(&mut self, tick: &mut dyn FnMut(Tick)) {
        if !self.partial.is_empty() || self.overflow {
            self.end_line(tick);
        }
        if let Some(ad) = self.ad.as_mut() {
            ad.finish(&mut self.outs);
            emit(&self.ctx, None, &mut self.outs, &mut |i| {
                tick(Tick::Item(i))
            });
        }
    }
}
