//! Rules over converted log events: feeds every event to a [`RuleSet`]'s streaming
//! evaluator in input order and keeps, for each detection, the source of every event it
//! names (`FILE:LINE`, CloudTrail `eventID` ...). Sources are kept for the last
//! [`KEEP_SOURCES`] events only, so memory stays bounded on endless input.

use super::{read_inputs, Format, Item};
use crate::rules::{Detection, RuleSet};
use serde_json::Value;
use std::collections::VecDeque;

/// How many recent events' sources are remembered for multi-event detections.
pub const KEEP_SOURCES: usize = 1 << 16;

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

/// Run `set` over `paths`. With `emit`, each converted UDM event is also handed over
/// (for `--emit udm`).
pub fn run(
    set: &RuleSet,
    paths: &[String],
    format: Format,
    mut emit: Option<&mut dyn FnMut(&Value)>,
) -> Outcome {
    let mut ev = set.evaluator();
    let mut out = Outcome::default();
    let mut recent: VecDeque<(usize, Source)> = VecDeque::new();
    let mut raw: Vec<Detection> = vec![];
    let mut sink = |item: Item| match item {
        Item::Problem(p) => out.problems.push(p),
        Item::Event(c) => {
            out.events += 1;
            let idx = out.events;
            if let Some(f) = emit.as_mut() {
                f(c.event.json());
            }
            if recent.len() == KEEP_SOURCES {
                recent.pop_front();
            }
            recent.push_back((
                idx,
                Source {
                    line: c.line,
                    label: c.source,
                },
            ));
            let ds = ev.push(idx, &c.event);
            for d in ds {
                out.detections.push(resolve(d, &recent));
            }
        }
    };
    read_inputs(paths, format, &mut sink);
    let (rest, limits) = ev.finish();
    raw.extend(rest);
    for d in raw {
        out.detections.push(resolve(d, &recent));
    }
    out.problems.extend(limits);
    out
}

fn resolve(d: Detection, recent: &VecDeque<(usize, Source)>) -> (Detection, Vec<Option<Source>>) {
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
