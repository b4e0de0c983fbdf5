//! The `crypto-market` binary as a child process, output captured (so not a TTY: plain ASCII,
//! no colours), and what its tests read of the output: the exit status, one error line, the
//! `--json` line, table rows.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub const CLI: &str = env!("CARGO_BIN_EXE_crypto-market");

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

pub async fn run(args: &[String], env: &[(&str, &str)]) -> Run {
    let mut cmd = tokio::process::Command::new(CLI);
    cmd.args(args)
        .env_remove("MCP_AUTH_TOKEN")
        .env_remove("EXCHANGE_REST_URL")
        .env_remove("EXCHANGE_WS_URL")
        .env("COLUMNS", "100")
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("the CLI finishes")
        .expect("the CLI runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

impl Run {
    pub fn success(self) -> Run {
        assert_eq!(self.code, 0, "exit 0; stderr: {}", self.stderr);
        assert!(self.stderr.is_empty(), "nothing on stderr: {}", self.stderr);
        assert!(self.stdout.is_ascii(), "ASCII off a TTY:\n{}", self.stdout);
        assert!(!self.stdout.contains('\x1b'), "no colours off a TTY");
        self
    }

    /// The `--json` line, parsed.
    pub fn json(&self) -> Value {
        assert_eq!(self.stdout.lines().count(), 1, "one line: {}", self.stdout);
        serde_json::from_str(&self.stdout).expect("--json prints JSON")
    }

    pub fn one_error_line(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "stderr: {}", self.stderr);
        assert_eq!(
            self.stderr.lines().count(),
            1,
            "one line: {:?}",
            self.stderr
        );
        assert!(self.stdout.is_empty(), "nothing on stdout: {}", self.stdout);
        self.stderr.trim_end()
    }
}

/// The cells of the table row whose first cell is `first`.
pub fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .find(|cells| cells.get(1) == Some(&first))
        .map(|cells| cells[1..cells.len() - 1].to_vec())
        .unwrap_or_else(|| panic!("no row {first:?} in\n{table}"))
}

pub fn parse_num(cell: &str) -> f64 {
    cell.replace(',', "").parse().expect("a number")
}

/// A result without what differs between two reads of the same value.
pub fn without_freshness(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        map.remove("age_ms");
        map.remove("source");
        map.remove("stale");
    }
    v
}

/// A simulator whose websocket ticks every 100 ms: a watched price moves between updates.
pub fn fast_sim() -> crypto_market_sim::SimHandle {
    crypto_market_sim::Simulator::start(crypto_market_sim::SimConfig {
        ws_ticker_interval_ms: 100,
        ..Default::default()
    })
    .expect("simulator starts")
}

/// The BTC/USDT rows of each table `watch` appended: (last price, source).
pub fn watched(stdout: &str) -> Vec<(f64, String)> {
    stdout
        .lines()
        .filter(|l| l.starts_with("| BTC/USDT"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (parse_num(cells[2]), cells[7].to_owned())
        })
        .collect()
}

/// The CLI's arguments pointing its embedded server at `sim`, then `args`.
pub fn sim_args(sim: &crypto_market_sim::SimHandle, args: &[&str]) -> Vec<String> {
    let mut all = vec![
        "--rest-url".to_owned(),
        sim.rest_url(),
        "--ws-url".to_owned(),
        sim.ws_url(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

/// `crypto-market chat` with `questions` on its stdin (no model), its own server on `sim`.
pub async fn chat(
    sim: &crypto_market_sim::SimHandle,
    questions: &str,
    env: &[(&str, &str)],
) -> Run {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new(CLI);
    cmd.args(sim_args(sim, &["chat"]))
        .env_remove("LLM_API_URL")
        .env_remove("LLM_API_KEY")
        .env_remove("LLM_MODEL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("the CLI runs");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(questions.as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("chat ends with its input")
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Starts the CLI with stdout and stderr on a pseudo-terminal; `(child, master)`.
#[allow(unsafe_code, reason = "openpty(3) through libc, its fds then owned")]
pub fn spawn_in_pty(args: &[String], env: &[(&str, &str)]) -> (std::process::Child, std::fs::File) {
    use std::os::fd::FromRawFd;
    let (mut master, mut slave) = (0, 0);
    let size = libc::winsize {
        ws_row: 40,
        ws_col: 120,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: openpty writes two fds we then own.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            &size,
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: fresh fds from openpty, owned here.
    let (master, slave) = unsafe {
        (
            std::fs::File::from_raw_fd(master),
            std::os::fd::OwnedFd::from_raw_fd(slave),
        )
    };
    let child = std::process::Command::new(CLI)
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave)
        .spawn()
        .expect("the CLI runs");
    (child, master)
}

/// Everything the program writes to its terminal, collected by a thread until the child
/// side closes; the closure reads it so far as text.
pub fn pty_output(master: std::fs::File) -> impl Fn() -> String {
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = output.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        let mut master = master;
        let mut buf = [0u8; 4096];
        // EIO once the child side is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    move || String::from_utf8_lossy(&output.lock().unwrap()).into_owned()
}

/// Sends Ctrl-C (SIGINT) to a program on a terminal and asserts it exits 0 (`text`: what it
/// wrote, shown when it does not).
pub async fn ctrl_c_exits_cleanly(child: std::process::Child, text: &impl Fn() -> String) {
    super::send_signal(child.id(), libc::SIGINT);
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .expect("exits");
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C is a clean exit:\n{}",
        text()
    );
}
