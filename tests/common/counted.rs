//! A webhook `Scanner` for tests: the real registry scanner (insecure loopback registry,
//! embedded signatures and rules, one scan at a time), counting the scans it ran, so a
//! test can tell a cached answer from a new pull.

use imgscan::admission::scan::RegistryScanner;
use imgscan::admission::{ImageVerdict, Scanner};
use imgscan::reference::Reference;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The registry scanner and the number of scans it ran.
pub struct Counted(pub RegistryScanner, pub AtomicUsize);

impl Counted {
    /// Scans run so far.
    pub fn scans(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }
}

impl Scanner for Counted {
    fn scan(&self, image: &Reference) -> ImageVerdict {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.scan(image)
    }
    fn version(&self) -> String {
        self.0.version()
    }
    fn resolve(&self, image: &Reference) -> Option<Result<String, String>> {
        self.0.resolve(image)
    }
}

/// A counting scanner of an insecure (loopback, plain HTTP) registry.
pub fn counted_scanner() -> Arc<Counted> {
    let opts = imgscan::source::SourceOptions {
        insecure: true,
        ..Default::default()
    };
    Arc::new(Counted(
        RegistryScanner::new(
            imgscan::signatures::Signatures::load(None).unwrap().into(),
            imgscan::rules::RuleSet::embedded_default(),
            imgscan::limits::Limits::default(),
            opts,
            1,
        ),
        AtomicUsize::new(0),
    ))
}
