//! Progress on stderr, only with `-P`; stdout stays clean for `--json` and for data.
//!
//! On a terminal: an indicatif bar (bytes, rate, ETA). Otherwise (a log file, CI): a plain
//! line every few seconds and one at the end, so a long transfer shows it is alive.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::commands::Ctx;
use crate::output::human;

/// How often a plain progress line is printed when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

enum Draw {
    Hidden,
    Bar(ProgressBar),
    Plain { label: String, started: Instant, last: Mutex<Instant> },
}

struct Inner {
    draw: Draw,
    done: AtomicU64,
    total: AtomicU64,
}

/// Byte progress of one command (one file, or a whole tree).
#[derive(Clone)]
pub struct Bar(Arc<Inner>);

impl Bar {
    /// Progress of `total` bytes (unknown: `None`), shown on stderr only with `-P`.
    pub fn new(ctx: &Ctx, total: Option<u64>, label: &str) -> Self {
        let draw = if !ctx.progress {
            Draw::Hidden
        } else if std::io::stderr().is_terminal() {
            let pb = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            pb.set_draw_target(ProgressDrawTarget::stderr());
            let template = if total.is_some() {
                "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}"
            } else {
                "{msg} {spinner} {binary_bytes} {binary_bytes_per_sec}"
            };
            let style = ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
            pb.set_style(style);
            pb.set_message(label.to_owned());
            Draw::Bar(pb)
        } else {
            let now = Instant::now();
            Draw::Plain { label: label.to_owned(), started: now, last: Mutex::new(now) }
        };
        Bar(Arc::new(Inner { draw, done: AtomicU64::new(0), total: AtomicU64::new(total.unwrap_or(0)) }))
    }

    /// Adds `n` bytes.
    pub fn inc(&self, n: u64) {
        let done = self.0.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.0.draw {
            Draw::Hidden => {}
            Draw::Bar(pb) => pb.inc(n),
            Draw::Plain { last, .. } => {
                let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
                if last.elapsed() >= PLAIN_EVERY {
                    *last = Instant::now();
                    drop(last);
                    self.plain_line(done, false);
                }
            }
        }
    }

    /// Bytes counted so far.
    pub fn done(&self) -> u64 {
        self.0.done.load(Ordering::Relaxed)
    }

    fn plain_line(&self, done: u64, last: bool) {
        let Draw::Plain { label, started, .. } = &self.0.draw else { return };
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let total = self.0.total.load(Ordering::Relaxed);
        let of = if total > 0 { format!(" of {}", human(total)) } else { String::new() };
        let state = if last { "done" } else { "progress" };
        eprintln!(
            "storage: {state}: {label}: {}{of} in {secs:.1} s ({}/s)",
            human(done),
            human((done as f64 / secs) as u64)
        );
    }

    /// Done: the bar is cleared; a plain final line is printed.
    pub fn finish(&self) {
        match &self.0.draw {
            Draw::Hidden => {}
            Draw::Bar(pb) => pb.finish_and_clear(),
            Draw::Plain { .. } => self.plain_line(self.done(), true),
        }
    }
}

impl storage::Progress for Bar {
    fn start(&self, total_bytes: Option<u64>, _total_objects: Option<u64>) {
        if let Some(t) = total_bytes {
            self.0.total.store(t, Ordering::Relaxed);
            if let Draw::Bar(pb) = &self.0.draw {
                pb.set_length(t);
            }
        }
    }
    fn bytes(&self, n: u64) {
        self.inc(n);
    }
}

/// One object's share of a [`Bar`]: counts what the engine reports for it, so that a copy
/// that reported less than its size (a server-side copy reports nothing) can be completed.
pub struct FileProgress {
    bar: Bar,
    reported: AtomicU64,
}

impl FileProgress {
    /// A share of `bar`.
    pub fn new(bar: &Bar) -> Arc<Self> {
        Arc::new(FileProgress { bar: bar.clone(), reported: AtomicU64::new(0) })
    }

    /// The object is done and holds `size` bytes: report what the engine did not.
    pub fn complete(&self, size: u64) {
        let reported = self.reported.load(Ordering::Relaxed);
        if size > reported {
            self.bar.inc(size - reported);
        }
    }
}

impl storage::Progress for FileProgress {
    fn bytes(&self, n: u64) {
        self.reported.fetch_add(n, Ordering::Relaxed);
        self.bar.inc(n);
    }
}
