//! Where entries live: one small trait, [`Backend`], and the in-process
//! [`MemoryBackend`]. The directory backend is in `fs.rs`.

use std::collections::HashMap;
use std::sync::Mutex;

/// Stores whole values under names (hex digests of the key). A `get` never returns part
/// of a value another process is writing: backends write atomically.
pub trait Backend: Send + Sync {
    /// The value stored under `name`, if any. Err = the backend itself failed (the scan then
    /// goes on without the cache).
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String>;
    /// Store `value` under `name`, replacing what was there.
    fn put(&self, name: &str, value: &[u8]) -> Result<(), String>;
    /// Entries and bytes held.
    fn stats(&self) -> Result<(u64, u64), String>;
    /// Remove every entry.
    fn clean(&self) -> Result<u64, String>;
    /// For messages: `fs:/home/u/.cache/imgscan/layers`, `memory`.
    fn describe(&self) -> String;
}

/// Entries in this process's memory, least recently used evicted past `max_bytes`.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    max_bytes: u64,
    inner: Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    tick: u64,
    bytes: u64,
    map: HashMap<String, (Vec<u8>, u64)>,
}

impl MemoryBackend {
    pub fn new(max_bytes: u64) -> Self {
        MemoryBackend {
            max_bytes,
            inner: Mutex::default(),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, MemInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for MemoryBackend {
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, String> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        Ok(g.map.get_mut(name).map(|(v, t)| {
            *t = tick;
            v.clone()
        }))
    }
    fn put(&self, name: &str, value: &[u8]) -> Result<(), String> {
        let mut g = self.lock();
        g.tick += 1;
        let tick = g.tick;
        if let Some((old, _)) = g.map.insert(name.to_string(), (value.to_vec(), tick)) {
            g.bytes -= old.len() as u64;
        }
        g.bytes += value.len() as u64;
        while g.bytes > self.max_bytes && g.map.len() > 1 {
            let Some(oldest) = g
                .map
                .iter()
                .filter(|(k, _)| k.as_str() != name)
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            if let Some((v, _)) = g.map.remove(&oldest) {
                g.bytes -= v.len() as u64;
            }
        }
        Ok(())
    }
    fn stats(&self) -> Result<(u64, u64), String> {
        let g = self.lock();
        Ok((g.map.len() as u64, g.bytes))
    }
    fn clean(&self) -> Result<u64, String> {
        let mut g = self.lock();
        let n = g.map.len() as u64;
        g.map.clear();
        g.bytes = 0;
        Ok(n)
    }
    fn describe(&self) -> String {
        "memory".into()
    }
}
