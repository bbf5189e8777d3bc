//! Rules over converted log events. A [`Detector`] takes events in input order, puts
//! them back into event-time order through a bounded reorder buffer (several files, or
//! records written out of order), feeds a [`RuleSet`]'s streaming evaluator, and keeps,
//! for each detection, the source of every event it names (`FILE:LINE`, CloudTrail
//! `eventID` ...). Sources are kept for the last [`KEEP_SOURCES`] events only, so memory
//! stays bounded on endless input.
//!
//! The reorder bound: up to [`REORDER`] events are held; when it is full the oldest (by
//! event time) goes to the rules. An event that arrives more than [`REORDER`] events
//! late still reaches the rules, and the engine places it by its time in every window
//! still open; only windows already closed miss it. `--follow` also flushes the buffer
//! whenever the input goes idle, so detections are not held back waiting for more.

use super::{read_inputs, Converted, Format, Item};
use crate::rules::{Detection, Evaluator, Matched, RuleSet};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

/// How many recent events' sources are remembered for multi-event detections.
pub const KEEP_SOURCES: usize = 1 << 16;

/// Most events held to restore event-time order.
pub const REORDER: usize = 4096;

/// Most bytes of event text (string values, counted by [`text_bytes`]) held to restore
/// event-time order: 4096 events of 16 MiB lines would otherwise be 64 GiB.
pub const REORDER_BYTES: usize = 64 << 20;

/// Where a matched event came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// 1-based line in its file.
    pub line: usize,
    /// `FILE:LINE[#record][ id=...]` (or `line N...` for a single input).
    pub label: String,
}

#[derive(Default)]
pub struct Outcome {
    /// Each detection with the sources of its events (in `d.events` order; an event
    /// older than [`KEEP_SOURCES`] shows as `None`).
    pub detections: Vec<(Detection, Vec<Option<Source>>)>,
    /// Problems, in order (the caller lists or counts them).
    pub problems: Vec<String>,
    pub events: usize,
}

/// A detection with the sources of its events.
pub type Found = (Detection, Vec<Option<Source>>);

/// One event waiting in the reorder buffer: (event time, arrival number). It is matched
/// against the rules when it arrives ([`Evaluator::matches`]) and holds its UDM event
/// only when some rule matched it; the rest of the rules' work is done on release.
struct Held {
    ts: i64,
    idx: usize,
    bytes: usize,
    m: Matched,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.ts, self.idx) == (o.ts, o.idx)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ts, self.idx).cmp(&(o.ts, o.idx))
    }
}

/// Streaming rules over log items (see the module doc).
pub struct Detector<'a> {
    ev: Evaluator<'a>,
    held: BinaryHeap<Reverse<Held>>,
    bound: usize,
    /// Text bytes of the events in `held`.
    held_bytes: usize,
    recent: VecDeque<(usize, Source)>,
    /// Events seen so far (also the arrival number of the last one).
    pub events: usize,
}

impl<'a> Detector<'a> {
    pub fn new(set: &'a RuleSet) -> Detector<'a> {
        Detector::with_bound(set, REORDER)
    }

    /// A detector whose reorder buffer holds `bound` events (0: input order).
    pub fn with_bound(set: &'a RuleSet, bound: usize) -> Detector<'a> {
        Detector {
            ev: set.evaluator(),
            held: BinaryHeap::new(),
            bound,
            held_bytes: 0,
            recent: VecDeque::new(),
            events: 0,
        }
    }

    /// Take one converted event; detections whose windows closed go to `found`.
    pub fn push(&mut self, mut c: Converted, found: &mut dyn FnMut(Found)) {
        self.events += 1;
        let idx = self.events;
        if self.recent.len() == KEEP_SOURCES {
            self.recent.pop_front();
        }
        // The label lives in `recent` only: a held event is looked up by its index.
        self.recent.push_back((
            idx,
            Source {
                line: c.line,
                label: std::mem::take(&mut c.source),
            },
        ));
        let m = self.ev.matches(&c.event);
        // An event no rule matched is not held: only its time and number wait.
        let bytes = if m.holds_event() {
            text_bytes(c.event.json())
        } else {
            0
        };
        self.held_bytes += bytes;
        self.held.push(Reverse(Held {
            ts: c.event.timestamp(),
            idx,
            bytes,
            m,
        }));
        while self.held.len() > self.bound || self.held_bytes > REORDER_BYTES {
            self.release_one(found);
        }
    }

    fn release_one(&mut self, found: &mut dyn FnMut(Found)) {
        if let Some(Reverse(h)) = self.held.pop() {
            self.held_bytes -= h.bytes;
            for d in self.ev.push_matched(h.idx, h.m) {
                found(resolve(d, &self.recent));
            }
        }
    }

    /// Hand every held event to the rules (input idle or ended).
    pub fn flush(&mut self, found: &mut dyn FnMut(Found)) {
        while !self.held.is_empty() {
            self.release_one(found);
        }
    }

    /// Flush, then declare that event time has reached `now` (seconds): windows that
    /// end before it close (`--follow` passes the wall clock when its input is idle).
    pub fn advance(&mut self, now: i64, found: &mut dyn FnMut(Found)) {
        self.flush(found);
        for d in self.ev.advance(now) {
            found(resolve(d, &self.recent));
        }
    }

    /// End of input: flush and close every window. Returns the limit notes.
    pub fn finish(mut self, found: &mut dyn FnMut(Found)) -> Vec<String> {
        self.flush(found);
        let (rest, notes) = self.ev.finish();
        for d in rest {
            found(resolve(d, &self.recent));
        }
        notes
    }
}

/// Run `set` over `paths`. With `emit`, each converted UDM event is also handed over
/// (for `--emit udm`).
pub fn run(
    set: &RuleSet,
    paths: &[String],
    format: Format,
    mut emit: Option<&mut dyn FnMut(&Value)>,
) -> Outcome {
    let mut det = Detector::new(set);
    let mut problems = vec![];
    let mut detections = vec![];
    read_inputs(paths, format, &mut |item: Item| match item {
        Item::Problem(p) => problems.push(p),
        Item::Event(c) => {
            if let Some(f) = emit.as_mut() {
                f(c.event.json());
            }
            det.push(c, &mut |d| detections.push(d));
        }
    });
    let events = det.events;
    let notes = det.finish(&mut |d| detections.push(d));
    problems.extend(notes);
    Outcome {
        detections,
        problems,
        events,
    }
}

fn resolve(d: Detection, recent: &VecDeque<(usize, Source)>) -> Found {
    let srcs = d
        .events
        .iter()
        .map(|i| {
            recent
                .binary_search_by_key(i, |x| x.0)
                .ok()
                .map(|k| recent[k].1.clone())
        })
        .collect();
    (d, srcs)
}

/// The bytes of every string (keys included) in `v`: what an event held in memory costs,
/// near enough, without serialising it.
fn text_bytes(v: &Value) -> usize {
    match v {
        Value::String(t) => t.len(),
        Value::Array(a) => a.iter().map(text_bytes).sum(),
        Value::Object(m) => m.iter().map(|(k, v)| k.len() + text_bytes(v)).sum(),
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Event;

    #[test]
    fn the_reorder_buffer_is_bounded_by_bytes_too() {
        let set = RuleSet::embedded_default();
        let mut d = Detector::new(&set);
        // Events the seed rule matches (a mining pool on the command line): held whole.
        let big = format!("xmrig -o stratum+tcp://pool {}", "x".repeat(4 << 20));
        let mut found = 0;
        for i in 0..100 {
            let udm = serde_json::json!({
                "metadata": {"event_timestamp": format!("2024-01-01T00:00:{:02}Z", i % 60),
                             "event_type": "PROCESS_LAUNCH"},
                "target": {"process": {"command_line": big}},
            });
            let c = Converted {
                source: format!("line {i}"),
                line: i + 1,
                event: Event::from_json(udm).unwrap(),
            };
            d.push(c, &mut |_| found += 1);
            assert!(d.held_bytes <= REORDER_BYTES, "{} bytes held", d.held_bytes);
        }
        assert!(d.held.len() < 20, "{} events held", d.held.len());
        assert_eq!(
            d.held_bytes,
            d.held.iter().map(|h| h.0.bytes).sum::<usize>()
        );
        d.flush(&mut |_| found += 1);
        assert_eq!((d.held.len(), d.held_bytes), (0, 0));
        assert_eq!(found, 100, "every held event still reaches the rule");
    }

    fn launch(sec: usize, cmd: &str) -> Event {
        Event::from_json(serde_json::json!({
            "metadata": {"event_timestamp": format!("2024-01-01T00:{:02}:{:02}Z", sec / 60, sec % 60),
                         "event_type": "PROCESS_LAUNCH"},
            "target": {"process": {"command_line": cmd}},
        }))
        .unwrap()
    }

    #[test]
    fn unmatched_events_wait_without_their_text_and_order_is_kept() {
        let set = RuleSet::embedded_default();
        let mut d = Detector::with_bound(&set, 8);
        let mut lines = vec![];
        // Out of input order; every third matches the seed rule.
        for (i, sec) in [5usize, 3, 9, 1, 7, 2, 8, 4, 6, 0].into_iter().enumerate() {
            let cmd = if i % 3 == 0 {
                "xmrig --donate-level 1"
            } else {
                "ls"
            };
            let c = Converted {
                source: format!("line {}", i + 1),
                line: i + 1,
                event: launch(sec, cmd),
            };
            d.push(c, &mut |f| lines.push(f.1[0].as_ref().unwrap().line));
            let held_text: usize = d.held.iter().filter(|h| h.0.m.holds_event()).count();
            assert_eq!(held_text, d.held.iter().filter(|h| h.0.bytes > 0).count());
        }
        assert!(d
            .held
            .iter()
            .any(|h| !h.0.m.holds_event() && h.0.bytes == 0));
        d.finish(&mut |f| lines.push(f.1[0].as_ref().unwrap().line));
        // Lines 1, 4, 7, 10 match (seconds 5, 1, 8, 0). The 9th event overfills the
        // bound of 8 and releases the earliest (line 4); line 10 arrives earliest of all
        // and goes straight through; the rest leave by time at the end.
        assert_eq!(lines, vec![4, 10, 1, 7]);
    }
}
