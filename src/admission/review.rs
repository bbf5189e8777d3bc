//! One AdmissionReview in, one out: parse the body with kube's admission types, decide
//! what to look at (kind, operation, namespace, new images only), judge each image
//! (name first, then the [`Scanner`]), and build the response the apiserver reads.
//!
//! ```
//! use imgscan::admission::{review::{review_body, Reviewer}, NamesOnly, Policy};
//! let body = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
//!   "uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},
//!   "resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE",
//!   "userInfo":{},"namespace":"default",
//!   "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},
//!     "spec":{"containers":[{"name":"c","image":"grafanna/grafana:10"}]}}}}"#;
//! let out = review_body(body, &Reviewer::new(Policy::default(), &NamesOnly));
//! assert!(!out.allowed);
//! assert_eq!(out.review["response"]["uid"], "u1");
//! assert_eq!(out.review["response"]["status"]["code"], 403);
//! ```

use super::images::images_of;
use super::policy::{Mode, OnDeadline, Policy};
use crate::findings::{Finding, Location};
use crate::reference::Reference;
use crate::reputation::{self, Corpus};
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use kube::core::{DynamicObject, Status};
use serde_json::Value;
use std::sync::OnceLock;

/// Characters in one warning at most (kubectl prints each on one line).
pub const MAX_WARNING_CHARS: usize = 119;
/// Warnings per response at most.
pub const MAX_WARNINGS: usize = 20;

/// What judging one image's content gave (serialisable: `serve --redis` shares it).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum ImageVerdict {
    /// Scanned: its manifest digest, findings, and what the scan could not read.
    Judged {
        digest: Option<String>,
        findings: Vec<Finding>,
        incomplete: Vec<String>,
    },
    /// Could not be judged (registry unreachable, deadline passed): the policy's
    /// `on_deadline` decides.
    Unjudged(String),
    /// Deliberately not scanned (names-only review): allowed with a warning.
    Skipped(String),
}

/// Judges an image's content. The CLI and `serve` pass a registry scanner; tests and
/// `--names-only` pass [`NamesOnly`].
pub trait Scanner: Sync {
    fn scan(&self, image: &Reference) -> ImageVerdict;

    /// What the verdicts depend on besides the image (signature set, rules, analysis
    /// limits): part of every verdict cache key, so a new signature set never reuses an
    /// old verdict.
    fn version(&self) -> String {
        String::new()
    }

    /// The digest a tag names now (one manifest request), or `None` when this scanner
    /// does not resolve tags.
    fn resolve(&self, _image: &Reference) -> Option<Result<String, String>> {
        None
    }

    /// Several images are about to be asked for one after the other: a scanner that can
    /// start their scans in the background does so now.
    fn prefetch(&self, _images: &[Reference]) {}
}

/// A scanner that scans nothing: only the name check judges.
pub struct NamesOnly;

impl Scanner for NamesOnly {
    fn scan(&self, _: &Reference) -> ImageVerdict {
        ImageVerdict::Skipped("content not scanned (names only)".into())
    }
}

/// Policy, name corpus and scanner, shared by every review.
pub struct Reviewer<'a> {
    pub policy: Policy,
    corpus: OnceLock<Corpus>,
    scanner: &'a dyn Scanner,
}

impl<'a> Reviewer<'a> {
    pub fn new(policy: Policy, scanner: &'a dyn Scanner) -> Self {
        Reviewer {
            policy,
            corpus: OnceLock::new(),
            scanner,
        }
    }

    /// With a corpus of your own (`--trusted`).
    pub fn with_corpus(mut self, corpus: Corpus) -> Self {
        self.corpus = OnceLock::from(corpus);
        self
    }

    fn corpus(&self) -> &Corpus {
        self.corpus.get_or_init(Corpus::embedded)
    }
}

/// A review's answer and how it went.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The AdmissionReview to send back (HTTP 200).
    pub review: Value,
    pub allowed: bool,
    /// The body was no AdmissionReview: the answer carries no uid, so the apiserver
    /// counts it as a webhook error and its failurePolicy decides.
    pub invalid: bool,
}

/// Review one request body.
pub fn review_body(body: &[u8], reviewer: &Reviewer) -> Outcome {
    let parsed: Result<AdmissionReview<DynamicObject>, String> =
        serde_json::from_slice(body).map_err(|e| format!("not an AdmissionReview: {e}"));
    let req: Result<AdmissionRequest<DynamicObject>, String> = parsed.and_then(|r| {
        r.try_into()
            .map_err(|_| "not an AdmissionReview: it has no request".to_string())
    });
    let req = match req {
        Ok(r) if r.uid.is_empty() => Err("not an AdmissionReview: the request has no uid".into()),
        other => other,
    };
    let resp = match req {
        Ok(req) => review_request(&req, reviewer),
        Err(e) => {
            let mut r = AdmissionResponse::invalid(&e);
            r.result.code = 400;
            return finish(r, true);
        }
    };
    finish(resp, false)
}

fn finish(resp: AdmissionResponse, invalid: bool) -> Outcome {
    let allowed = resp.allowed;
    let review = serde_json::to_value(resp.into_review()).unwrap_or(Value::Null);
    Outcome {
        review,
        allowed,
        invalid,
    }
}

/// What one image came to.
struct Judged {
    image: String,
    deny: Vec<String>,
    warn: Vec<String>,
}

fn review_request(req: &AdmissionRequest<DynamicObject>, rv: &Reviewer) -> AdmissionResponse {
    let mut resp = AdmissionResponse::from(req);
    let note = |mut r: AdmissionResponse, why: &str| {
        r.audit_annotations
            .insert("verdict".into(), format!("allowed: {why}"));
        r
    };
    if matches!(req.operation, Operation::Delete | Operation::Connect) {
        return note(resp, "operation is not judged");
    }
    let kind = req.kind.kind.as_str();
    match req.sub_resource.as_deref() {
        None | Some("ephemeralcontainers") => {}
        Some(_) => return note(resp, "subresource runs no new image"),
    }
    if rv.policy.is_exempt(req.namespace.as_deref()) {
        return note(resp, "namespace is exempt");
    }
    let Some(obj) = &req.object else {
        return note(resp, "no object");
    };
    if obj.metadata.deletion_timestamp.is_some() {
        return note(resp, "object is being deleted");
    }
    let obj = serde_json::to_value(obj).unwrap_or(Value::Null);
    let mut images = match images_of(kind, &obj) {
        None => return note(resp, "kind makes no pods"),
        Some(Ok(i)) => i,
        Some(Err(e)) => return deny(resp, &format!("denied: {e}")),
    };
    if req.operation == Operation::Update {
        if let Some(old) = &req.old_object {
            let old = serde_json::to_value(old).unwrap_or(Value::Null);
            if let Some(Ok(before)) = images_of(kind, &old) {
                images.retain(|i| !before.contains(i));
            }
        }
    }
    if images.is_empty() {
        return note(resp, "no new image");
    }
    // Names first (no network); then every image left to scan is started at once, so a
    // review of several new images waits for the slowest scan, not for their sum.
    let named: Vec<Result<(Judged, Reference), Judged>> =
        images.iter().map(|i| judge_name(i, rv)).collect();
    let to_scan: Vec<Reference> = named
        .iter()
        .filter_map(|n| n.as_ref().ok().map(|(_, r)| r.clone()))
        .collect();
    if to_scan.len() > 1 {
        rv.scanner.prefetch(&to_scan);
    }
    let judged: Vec<Judged> = named
        .into_iter()
        .map(|n| match n {
            Ok((j, r)) => judge_content(j, &r, rv),
            Err(done) => done,
        })
        .collect();
    let mut denials = Vec::new();
    let mut warnings = Vec::new();
    for j in &judged {
        if !j.deny.is_empty() {
            denials.push(format!("denied {}: {}", j.image, j.deny.join("; ")));
        }
        for w in &j.warn {
            warnings.push(w.clone());
        }
    }
    let verdict = if denials.is_empty() {
        format!("allowed: {} image(s) judged", images.len())
    } else {
        denials.join(" | ")
    };
    resp.audit_annotations
        .insert("verdict".into(), verdict.clone());
    if denials.is_empty() {
        set_warnings(&mut resp, warnings);
        return resp;
    }
    if rv.policy.mode == Mode::Audit {
        let mut w: Vec<String> = denials
            .iter()
            .map(|d| format!("audit: would be {d}"))
            .collect();
        w.extend(warnings);
        set_warnings(&mut resp, w);
        return resp;
    }
    set_warnings(&mut resp, warnings);
    deny(resp, &verdict)
}

fn deny(resp: AdmissionResponse, message: &str) -> AdmissionResponse {
    let mut r = resp.deny(message);
    r.result = Status::failure(message, "Forbidden").with_code(403);
    r
}

fn set_warnings(resp: &mut AdmissionResponse, warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    let mut out: Vec<String> = Vec::new();
    for w in warnings {
        let w = truncate(&w, MAX_WARNING_CHARS);
        if !out.contains(&w) && out.len() < MAX_WARNINGS {
            out.push(w);
        }
    }
    resp.warnings = Some(out);
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

/// `SEV ID where` for a finding, e.g. `CRITICAL IMG-MINER-BINARY usr/bin/nginx (layer 1)`.
pub fn finding_line(f: &Finding) -> String {
    let place = f.evidence.first().map(|e| match &e.location {
        Location::File { layer, path, .. } => format!("{path} (layer {layer})"),
        Location::Config { field } => format!("config {field}"),
        Location::History { step } => format!("history step {step}"),
        Location::Name { .. } => "image name".into(),
        Location::Event { line } => format!("event line {line}"),
        Location::Scan => "scan".into(),
    });
    match place {
        Some(p) => format!("{} {} {p}", f.severity, f.id),
        None => format!("{} {}", f.severity, f.id),
    }
}

/// The name check: `Err` is the final judgement (invalid, allowed by policy, denied
/// by name); `Ok` goes on to the content scan.
fn judge_name(image: &str, rv: &Reviewer) -> Result<(Judged, Reference), Judged> {
    let mut j = Judged {
        image: image.to_string(),
        deny: vec![],
        warn: vec![],
    };
    let policy = &rv.policy;
    let reference = match Reference::parse(image) {
        Ok(r) => r,
        Err(e) => {
            j.deny
                .push(format!("not a valid image reference ({})", e.reason));
            return Err(j);
        }
    };
    if policy.is_allowed_image(image, &reference.registry)
        || policy.is_allowed_image(&reference.to_string(), &reference.registry)
    {
        return Err(j);
    }
    let mut names = reputation::judge(&reference, rv.corpus());
    reputation::escalate_namespace_squat(&mut names);
    sort_into(&names, &mut j, image, policy);
    if !j.deny.is_empty() {
        // Denied from the name alone: nothing is pulled.
        return Err(j);
    }
    Ok((j, reference))
}

fn sort_into(findings: &[Finding], j: &mut Judged, image: &str, policy: &Policy) {
    for f in findings {
        if policy.denies(f.severity) {
            j.deny.push(finding_line(f));
        } else {
            j.warn.push(format!("{image}: {}", finding_line(f)));
        }
    }
}

/// The content scan of an image the name check let through.
fn judge_content(mut j: Judged, reference: &Reference, rv: &Reviewer) -> Judged {
    let policy = &rv.policy;
    let image = j.image.clone();
    match rv.scanner.scan(reference) {
        ImageVerdict::Judged {
            digest,
            mut findings,
            incomplete,
        } => {
            findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.id.cmp(&b.id)));
            sort_into(&findings, &mut j, &image, policy);
            if let Some(d) = digest {
                j.image = format!("{image} ({d})");
            }
            if j.deny.is_empty() && !incomplete.is_empty() {
                unjudged(
                    &mut j,
                    policy,
                    &format!("scan incomplete: {}", incomplete[0]),
                );
            }
        }
        ImageVerdict::Unjudged(why) => unjudged(&mut j, policy, &why),
        ImageVerdict::Skipped(why) => j.warn.push(format!("{image}: {why}")),
    }
    j
}

fn unjudged(j: &mut Judged, policy: &Policy, why: &str) {
    match policy.on_deadline {
        OnDeadline::Deny => j.deny.push(format!("not judged ({why})")),
        OnDeadline::AllowWithWarning => j.warn.push(format!("{}: not judged: {why}", j.image)),
    }
}
