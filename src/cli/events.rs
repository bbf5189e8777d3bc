//! `imgscan events` (work in progress; owned by its issue).

#[derive(clap::Args, Debug)]
pub struct Args {
    /// What to act on.
    pub targets: Vec<String>,
}

pub fn run(_args: Args) -> i32 {
    super::fail("`events` is not built yet")
}
