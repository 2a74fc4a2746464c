//! Progress bars on stderr (indicatif), only with `-P`; stdout stays clean for `--json`.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte progress bar, hidden unless enabled.
#[derive(Clone)]
pub struct Bar(Arc<ProgressBar>);

impl Bar {
    /// A bar for `total` bytes (unknown: a spinner); drawn on stderr only when `enabled`.
    pub fn new(enabled: bool, total: Option<u64>, label: &str) -> Self {
        let pb = match total {
            Some(t) => ProgressBar::new(t),
            None => ProgressBar::new_spinner(),
        };
        pb.set_draw_target(if enabled { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let style = ProgressStyle::with_template(
            "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        pb.set_style(style);
        pb.set_message(label.to_owned());
        Bar(Arc::new(pb))
    }

    /// Adds `n` bytes.
    pub fn inc(&self, n: u64) {
        self.0.inc(n);
    }

    /// Done.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl storage::Progress for Bar {
    fn start(&self, total_bytes: Option<u64>, _total_objects: Option<u64>) {
        if let Some(t) = total_bytes {
            self.0.set_length(t);
        }
    }
    fn bytes(&self, n: u64) {
        self.0.inc(n);
    }
}
