//! Percentiles of a Prometheus histogram between two scrapes of `/metrics`: the bucket counts'
//! differences, interpolated linearly within the bucket the rank falls in (so a p99 is as
//! good as the buckets around it: `FAST_PATH_BUCKETS` in src/metrics.rs).

/// Cumulative bucket counts (upper bound `le`, count) of `name` in a `/metrics` text; the
/// `+Inf` bucket last.
pub fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let prefix = format!("{name}_bucket{{");
    let mut out: Vec<(f64, f64)> = text
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            let count = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// `after` − `before`, bucket by bucket (a series absent before counts from zero).
pub fn delta(before: &[(f64, f64)], after: &[(f64, f64)]) -> Vec<(f64, f64)> {
    after
        .iter()
        .map(|&(le, n)| {
            let was = before
                .iter()
                .find(|(l, _)| *l == le)
                .map_or(0.0, |(_, c)| *c);
            (le, n - was)
        })
        .collect()
}

/// Observations in cumulative `buckets`.
pub fn count(buckets: &[(f64, f64)]) -> f64 {
    buckets.last().map_or(0.0, |(_, n)| *n)
}

/// The `q` quantile (0..1) of cumulative `buckets`, in seconds.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = count(buckets);
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let (mut low, mut below) = (0.0, 0.0);
    for &(le, n) in buckets {
        if n >= rank {
            if le.is_infinite() {
                return low;
            }
            let within = n - below;
            let share = if within > 0.0 {
                (rank - below) / within
            } else {
                0.0
            };
            return low + (le - low) * share;
        }
        low = le;
        below = n;
    }
    low
}
