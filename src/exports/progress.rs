//! Progress of an export or import: an indicatif bar on a terminal, plain lines otherwise,
//! or counters a background job publishes.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Told what an export or import does, as it does it.
pub trait Progress: Send {
    /// The work starts: `rows` in all.
    fn begin(&mut self, _rows: u64) {}
    /// A table starts, with its rows.
    fn table(&mut self, _name: &str, _rows: u64) {}
    /// Rows and bytes done since the last call.
    fn advance(&mut self, _rows: u64, _bytes: u64) {}
    /// The work is done.
    fn done(&mut self) {}
}

/// No progress shown.
pub struct Quiet;
impl Progress for Quiet {}

/// On stderr: a bar when it is a terminal, else a line per table.
pub struct Console {
    verb: &'static str,
    bar: Option<ProgressBar>,
}

impl Console {
    /// Progress of `verb` ("exporting", "importing").
    pub fn new(verb: &'static str) -> Self {
        Self { verb, bar: None }
    }
}

impl Progress for Console {
    fn begin(&mut self, rows: u64) {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(rows);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg:>24} [{bar:40}] {human_pos}/{human_len} rows {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            self.bar = Some(bar);
        } else {
            eprintln!("{} {rows} rows", self.verb);
        }
    }
    fn table(&mut self, name: &str, rows: u64) {
        match &self.bar {
            Some(bar) => bar.set_message(name.to_string()),
            None => eprintln!("{} {name}: {rows} rows", self.verb),
        }
    }
    fn advance(&mut self, rows: u64, _bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(rows);
        }
    }
    fn done(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

/// Counters another task reads (the export jobs publish them to the database).
#[derive(Clone, Default)]
pub struct Counters {
    /// Rows in all.
    pub total: Arc<AtomicU64>,
    /// Rows done.
    pub rows: Arc<AtomicU64>,
    /// Bytes of COPY text done.
    pub bytes: Arc<AtomicU64>,
}

impl Progress for Counters {
    fn begin(&mut self, rows: u64) {
        self.total.store(rows, Ordering::Relaxed);
    }
    fn advance(&mut self, rows: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
}
