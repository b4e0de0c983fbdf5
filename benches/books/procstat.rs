//! What `/proc` says about a process: CPU time (user + system) and resident memory, and the
//! share of one core a process used between two readings.

use std::time::Instant;

/// Clock ticks a second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: count fields from after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Resident set size, MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

/// A process's CPU use from now on, as a share of one core.
pub struct CpuMeter {
    pid: u32,
    cpu: f64,
    at: Instant,
}

impl CpuMeter {
    pub fn start(pid: u32) -> Self {
        Self {
            pid,
            cpu: cpu_seconds(pid).unwrap_or(0.0),
            at: Instant::now(),
        }
    }

    /// Percent of one core since [`CpuMeter::start`].
    pub fn percent(&self) -> f64 {
        let used = cpu_seconds(self.pid).unwrap_or(self.cpu) - self.cpu;
        100.0 * used / self.at.elapsed().as_secs_f64()
    }
}
