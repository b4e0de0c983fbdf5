//! The process's resident memory and the `MEMORY_TARGET_MB` policy (issue 25).
//!
//! A server launched by an assistant stays resident all day on the user's machine, and a worker
//! runs under a pod's memory limit. Most of what it holds can be made again: idle exchange client
//! instances (copies of a template, remade in microseconds) and the values of symbols nobody asked for lately (fetched again
//! on the next call). When resident memory is over the target, the router sheds those first and
//! asks the allocator to hand the freed pages back; it never refuses a request for it.

use std::time::{Duration, Instant};

/// How often resident memory is read against the target (a read of `/proc/self/status`).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(2);

/// A symbol used within this long is not "cold": shedding it would only make the next call a
/// miss right away.
pub(crate) const COLD_AFTER: Duration = Duration::from_secs(5);

/// Resident set size of this process in bytes (`VmRSS`), where the OS tells it (Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Decides when to shed: over the target, checked every [`CHECK_EVERY`].
#[derive(Debug)]
pub(crate) struct MemoryTarget {
    bytes: u64,
    last_check: Option<Instant>,
    /// Whether the last check was over (logged once per episode, not every check).
    over: bool,
}

/// What one check found, when memory was over the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OverTarget {
    pub resident: u64,
    pub target: u64,
    /// First check over the target after one under it.
    pub newly: bool,
}

impl MemoryTarget {
    pub fn new(megabytes: u64) -> Self {
        Self {
            bytes: megabytes.saturating_mul(1024 * 1024),
            last_check: None,
            over: false,
        }
    }

    /// Reads resident memory if a check is due; `Some` when it is over the target.
    pub fn check(&mut self, now: Instant) -> Option<OverTarget> {
        if self
            .last_check
            .is_some_and(|last| now.duration_since(last) < CHECK_EVERY)
        {
            return None;
        }
        self.last_check = Some(now);
        self.judge(resident_bytes()?)
    }

    fn judge(&mut self, resident: u64) -> Option<OverTarget> {
        let was_over = std::mem::replace(&mut self.over, resident > self.bytes);
        self.over.then_some(OverTarget {
            resident,
            target: self.bytes,
            newly: !was_over,
        })
    }
}

/// Hands the allocator's free pages back to the kernel, on a blocking thread (it walks the
/// heaps). Only glibc's malloc needs asking: it keeps freed pages of its arenas otherwise, and
/// loading a venue's markets frees several times what it keeps.
pub async fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = tokio::task::spawn_blocking(give_free_memory_back).await;
}

/// Asks glibc to hand the free pages of its heaps back to the kernel (`malloc_trim(0)`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "one libc call with no arguments to uphold")]
fn give_free_memory_back() {
    // SAFETY: malloc_trim takes no pointers and only releases memory malloc holds free.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_rss_in_bytes() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   51200 kB\nRssAnon:\t 1 kB\n";
        assert_eq!(parse_vm_rss(status), Some(50 * 1024 * 1024));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        assert_eq!(parse_vm_rss("VmRSS: lots kB\n"), None);
        let own = resident_bytes().expect("Linux reports VmRSS");
        assert!(own > 1024 * 1024, "{own}");
    }

    #[test]
    fn over_the_target_is_reported_with_the_start_of_each_episode() {
        let mut target = MemoryTarget::new(100);
        let mb = |n: u64| n * 1024 * 1024;
        assert_eq!(target.judge(mb(90)), None);
        let first = target.judge(mb(120)).unwrap();
        assert!(first.newly && first.resident == mb(120) && first.target == mb(100));
        assert!(!target.judge(mb(110)).unwrap().newly);
        assert_eq!(target.judge(mb(99)), None);
        assert!(target.judge(mb(101)).unwrap().newly);
    }

    #[test]
    fn checks_at_most_every_interval() {
        // A target of 0 MB is always over, so a due check always answers.
        let mut target = MemoryTarget::new(0);
        let start = Instant::now();
        assert!(target.check(start).is_some());
        assert!(target.check(start + CHECK_EVERY / 2).is_none());
        assert!(target.check(start + CHECK_EVERY).is_some());
    }
}
