//! Every call the soak makes, counted by operation, by minute and by outcome; every failure
//! attributed to a fault window or not.
//!
//! A failure is *explained* when it happens while a fault is under way or within
//! `window` after it ended (a Redis restart, a worker SIGKILL): the faults are the test's own
//! doing and some calls are expected to fail then. Any other failure is *unexplained*: an engine
//! defect until shown otherwise, kept with its message for the report.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unexplained failures kept verbatim (the counts are always complete).
const KEEP_UNEXPLAINED: usize = 40;

#[derive(Default)]
struct OpCount {
    calls: u64,
    explained: BTreeMap<String, u64>,
    unexplained: BTreeMap<String, u64>,
}

#[derive(Default, Clone, Copy)]
struct MinuteCount {
    calls: u64,
    explained: u64,
    unexplained: u64,
}

pub struct Fault {
    pub what: String,
    pub began_s: f64,
    pub ended_s: Option<f64>,
    pub explained: u64,
}

pub struct Failure {
    pub at_s: f64,
    pub op: &'static str,
    pub kind: String,
    pub detail: String,
}

#[derive(Default)]
struct Inner {
    ops: BTreeMap<&'static str, OpCount>,
    minutes: Vec<MinuteCount>,
    faults: Vec<Fault>,
    unexplained: Vec<Failure>,
}

pub struct Tally {
    started: Instant,
    window: Duration,
    inner: Mutex<Inner>,
}

impl Tally {
    pub fn new(started: Instant, window: Duration) -> Self {
        Self {
            started,
            window,
            inner: Mutex::default(),
        }
    }

    /// Seconds since the load started.
    pub fn now_s(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn minute(inner: &mut Inner, at_s: f64) -> &mut MinuteCount {
        let m = (at_s / 60.0) as usize;
        if inner.minutes.len() <= m {
            inner.minutes.resize(m + 1, MinuteCount::default());
        }
        &mut inner.minutes[m]
    }

    pub fn ok(&self, op: &'static str) {
        let at_s = self.now_s();
        let mut inner = self.lock();
        inner.ops.entry(op).or_default().calls += 1;
        Self::minute(&mut inner, at_s).calls += 1;
    }

    /// One failed call of `op`: `kind` is what the report groups by (an error code, "timeout",
    /// "transport"), `detail` the message.
    pub fn fail(&self, op: &'static str, kind: &str, detail: &str) {
        let at_s = self.now_s();
        let window = self.window.as_secs_f64();
        let mut inner = self.lock();
        let fault = inner
            .faults
            .iter_mut()
            .rev()
            .find(|f| f.began_s <= at_s && f.ended_s.is_none_or(|end| at_s <= end + window));
        let explained = match fault {
            Some(fault) => {
                fault.explained += 1;
                true
            }
            None => false,
        };
        let count = inner.ops.entry(op).or_default();
        count.calls += 1;
        let by_kind = if explained {
            &mut count.explained
        } else {
            &mut count.unexplained
        };
        *by_kind.entry(kind.to_owned()).or_default() += 1;
        let minute = Self::minute(&mut inner, at_s);
        minute.calls += 1;
        if explained {
            minute.explained += 1;
        } else {
            minute.unexplained += 1;
            if inner.unexplained.len() < KEEP_UNEXPLAINED {
                inner.unexplained.push(Failure {
                    at_s,
                    op,
                    kind: kind.to_owned(),
                    detail: detail.chars().take(300).collect(),
                });
            }
        }
    }

    /// A fault starts now; returns its index for [`Tally::fault_ended`].
    pub fn fault_began(&self, what: &str) -> usize {
        let began_s = self.now_s();
        let mut inner = self.lock();
        inner.faults.push(Fault {
            what: what.to_owned(),
            began_s,
            ended_s: None,
            explained: 0,
        });
        inner.faults.len() - 1
    }

    pub fn fault_ended(&self, index: usize) {
        let now = self.now_s();
        if let Some(fault) = self.lock().faults.get_mut(index) {
            fault.ended_s = Some(now);
        }
    }

    /// (calls, explained failures, unexplained failures) over the whole run.
    pub fn totals(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        inner.ops.values().fold((0, 0, 0), |(c, e, u), op| {
            (
                c + op.calls,
                e + op.explained.values().sum::<u64>(),
                u + op.unexplained.values().sum::<u64>(),
            )
        })
    }

    /// The report's call tables, in Markdown.
    pub fn print(&self) {
        let inner = self.lock();
        println!("\n### Calls and failures by kind\n");
        println!("| operation | calls | failed, explained by a fault | failed, unexplained |");
        println!("|---|---:|---|---|");
        let kinds = |m: &BTreeMap<String, u64>| {
            if m.is_empty() {
                "0".to_owned()
            } else {
                let total: u64 = m.values().sum();
                let list: Vec<String> = m.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
                format!("{total} ({})", list.join(", "))
            }
        };
        for (op, count) in &inner.ops {
            println!(
                "| {op} | {} | {} | {} |",
                count.calls,
                kinds(&count.explained),
                kinds(&count.unexplained)
            );
        }
        let window = self.window.as_secs();
        println!("\n### Faults (a failure up to {window} s after one ends is explained by it)\n");
        println!("| fault | at | lasted | failures it explains |");
        println!("|---|---:|---:|---:|");
        for f in &inner.faults {
            let lasted = f
                .ended_s
                .map_or("-".to_owned(), |e| format!("{:.1} s", e - f.began_s));
            println!(
                "| {} | {} | {lasted} | {} |",
                f.what,
                clock(f.began_s),
                f.explained
            );
        }
        println!("\n### Calls by minute\n");
        println!("| minute | calls | failed, explained | failed, unexplained |");
        println!("|---:|---:|---:|---:|");
        for (m, c) in inner.minutes.iter().enumerate() {
            println!(
                "| {m} | {} | {} | {} |",
                c.calls, c.explained, c.unexplained
            );
        }
        if !inner.unexplained.is_empty() {
            println!("\n### Unexplained failures (first {KEEP_UNEXPLAINED})\n");
            for f in &inner.unexplained {
                println!(
                    "- {} {} `{}`: {}",
                    clock(f.at_s),
                    f.op,
                    f.kind,
                    f.detail.replace('\n', " ")
                );
            }
        }
    }
}

/// `m:ss` since the load started.
pub fn clock(at_s: f64) -> String {
    let s = at_s.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}
