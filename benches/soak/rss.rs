//! Resident memory of every engine process (`VmRSS` in `/proc/<pid>/status`), sampled at a
//! fixed period, and the report: the curve per process and its end against its baseline.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::tally::clock;

/// An engine process the sampler watches until it is gone (killed, or the run ended).
#[derive(Clone)]
struct Watched {
    name: String,
    pid: u32,
}

/// The processes to sample now: the fault runner removes a killed worker and adds its
/// replacement.
#[derive(Clone, Default)]
pub struct Processes(Arc<Mutex<Vec<Watched>>>);

impl Processes {
    pub fn add(&self, name: &str, pid: u32) {
        self.lock().push(Watched {
            name: name.to_owned(),
            pid,
        });
    }

    pub fn remove(&self, name: &str) {
        self.lock().retain(|w| w.name != name);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watched>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn names_and_pids(&self) -> Vec<(String, u32)> {
        self.lock()
            .iter()
            .map(|w| (w.name.clone(), w.pid))
            .collect()
    }

    fn snapshot(&self) -> Vec<Watched> {
        self.lock().clone()
    }
}

/// `VmRSS` of `pid` in KiB; None once the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

pub struct Sample {
    pub at_s: f64,
    pub name: String,
    pub kib: u64,
}

/// Samples every `period` until `until`, the first one at once.
pub async fn sample(
    processes: Processes,
    started: Instant,
    period: Duration,
    until: Instant,
) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let at_s = started.elapsed().as_secs_f64();
        for w in processes.snapshot() {
            if let Some(kib) = rss_kib(w.pid) {
                samples.push(Sample {
                    at_s,
                    name: w.name.clone(),
                    kib,
                });
            }
        }
        if Instant::now() >= until {
            return samples;
        }
    }
}

/// `name`'s sample nearest `t`, if one is within about half a sampling period of it.
fn nearest<'a>(samples: &'a [Sample], name: &str, t: f64) -> Option<&'a Sample> {
    samples
        .iter()
        .filter(|s| s.name == name)
        .min_by(|a, b| (a.at_s - t).abs().total_cmp(&(b.at_s - t).abs()))
        .filter(|s| (s.at_s - t).abs() <= 6.0)
}

fn mb(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The curve (a row per minute, and every sample compactly), then each process's RSS at
/// `baseline_s` after it started against its last sample.
pub fn print(samples: &[Sample], names: &[String], starts: &[(String, f64)], baseline_s: f64) {
    let at = |name: &str, t: f64| nearest(samples, name, t);
    let end_s = samples.iter().map(|s| s.at_s).fold(0.0, f64::max);
    println!("\n### RSS (MB) by minute\n");
    println!("| t | {} |", names.join(" | "));
    println!("|---:|{}", "---:|".repeat(names.len()));
    let mut t = 0.0;
    while t <= end_s + 0.5 {
        let cells: Vec<String> = names
            .iter()
            .map(|n| at(n, t).map_or("-".to_owned(), |s| mb(s.kib)))
            .collect();
        println!("| {} | {} |", clock(t), cells.join(" | "));
        t += 60.0;
    }
    println!("\n### Every sample (MB)\n");
    for name in names {
        let curve: Vec<String> = samples
            .iter()
            .filter(|s| &s.name == name)
            .map(|s| mb(s.kib))
            .collect();
        println!("- {name}: {}", curve.join(" "));
    }
    println!(
        "\n### RSS at {} after start against the end (aim: within 10%)\n",
        clock(baseline_s)
    );
    println!("| process | started | RSS then MB | RSS at its last sample MB | ratio |");
    println!("|---|---:|---:|---:|---:|");
    for (name, since_s) in starts {
        let base = at(name, since_s + baseline_s);
        let last = samples.iter().rfind(|s| &s.name == name);
        match (base, last) {
            (Some(b), Some(l)) if l.at_s > b.at_s => println!(
                "| {name} | {} | {} | {} (at {}) | {:.3} |",
                clock(*since_s),
                mb(b.kib),
                mb(l.kib),
                clock(l.at_s),
                l.kib as f64 / b.kib as f64
            ),
            _ => println!(
                "| {name} | {} | - | - | n/a (not alive from {} to the end) |",
                clock(*since_s),
                clock(since_s + baseline_s)
            ),
        }
    }
}

/// End/baseline ratios of the processes alive at both times.
pub fn ratios(samples: &[Sample], starts: &[(String, f64)], baseline_s: f64) -> Vec<(String, f64)> {
    starts
        .iter()
        .filter_map(|(name, since_s)| {
            let base = nearest(samples, name, since_s + baseline_s)?;
            let last = samples.iter().rfind(|s| &s.name == name)?;
            (last.at_s > base.at_s).then(|| (name.clone(), last.kib as f64 / base.kib as f64))
        })
        .collect()
}
