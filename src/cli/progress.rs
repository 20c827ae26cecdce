//! Progress bars on a terminal, silence elsewhere.

use std::io::IsTerminal;
use std::sync::Mutex;

use bandit_engine::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// An indicatif bar per stage when stderr is a terminal and not `--quiet`.
pub struct Bars {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            bar: Mutex::new(None),
        }
    }
}

impl Progress for Bars {
    fn start(&self, stage: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::new(total)
            .with_message(stage.to_owned())
            .with_style(
                ProgressStyle::with_template(
                    "{msg:30!} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
        *self.bar.lock().expect("progress lock") = Some(bar);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
            b.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = self.bar.lock().expect("progress lock").take() {
            b.finish_and_clear();
        }
    }
}
