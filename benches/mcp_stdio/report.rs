//! What the bench prints: the machine and the table.

use super::*;

// ---------------------------------------------------------------------------------------------
// Output

pub(crate) fn print_machine() {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = command_output("uname", &["-sr"]).unwrap_or_else(|| "unknown".into());
    let date = command_output("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .unwrap_or_else(|| "unknown".into());
    let commit = command_output("git", &["rev-parse", "--short", "HEAD"])
        .map(|c| {
            let dirty = command_output("git", &["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} (with uncommitted changes)")
            } else {
                c
            }
        })
        .unwrap_or_else(|| "unknown".into());
    println!("# crypto-market-mcp stdio benchmark");
    println!();
    println!("- machine: nproc {cores}, {cpu}, {kernel}");
    println!("- date: {date}");
    println!("- commit: {commit}");
    println!(
        "- client: one rmcp client, tokio current-thread runtime; server RUST_LOG=warn; \
         release build"
    );
    println!();
}

/// Trimmed stdout of a command run in the package directory, `None` if it fails.
pub(crate) fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub(crate) fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | in flight | calls | failed | calls/s | p50 ms | p99 ms | server CPU µs/call | client CPU µs/call \
         | vs echo pipes (calls/s) | vs echo pipes (p50) | vs echo stdio() (calls/s) | vs echo stdio() (p50) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let r = &row.result;
        // Pipes first: that echo uses the server's own transport, so it is the ceiling.
        let ratios = match row.echo {
            Some(echoes) => echoes
                .iter()
                .flat_map(|e| {
                    [
                        format!("{:.2}", r.calls_per_s() / e.calls_per_s),
                        format!("{:.2}", r.p50() / e.p50),
                    ]
                })
                .collect::<Vec<_>>(),
            None => vec![String::new(); 4],
        }
        .join(" | ");
        let show = |us: Option<f64>| us.map(|us| format!("{us:.0}")).unwrap_or_default();
        let (cpu, client_cpu) = (show(r.cpu_us_per_call()), show(r.client_cpu_us_per_call()));
        println!(
            "| {} | {} | {} | {} | {:.0} | {:.3} | {:.3} | {} | {} | {} |",
            row.scenario,
            r.in_flight,
            r.calls(),
            r.failures,
            r.calls_per_s(),
            r.p50(),
            r.p99(),
            cpu,
            client_cpu,
            ratios
        );
    }
}
