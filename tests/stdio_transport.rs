//! The stdio transport (src/mcp/stdio.rs). Pipes (Python clients, rmcp's child-process client)
//! and Unix socket pairs (Node's `child_process`, so the TypeScript SDK) are served on the IO
//! reactor; a regular file on stdout falls back to tokio's stdin()/stdout(). Every way: the
//! answers are right, stdout carries nothing but JSON-RPC even at RUST_LOG=debug, the fds the
//! server shares with its parent stay blocking, and closing stdin ends it with status 0.

mod common;

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{num, ok, server_command, simulator, start_server};
use crypto_market_sim::SimHandle;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::process::Child;

/// An upper bound for anything to happen, not a performance expectation.
const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn pipes_answer_tools_list_and_get_ticker_on_the_io_reactor() {
    let sim = simulator();
    let server = start_server(&sim, &[("RUST_LOG", "debug")]).await;
    let tools = server.client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "get_ticker"), "{tools:?}");
    let result = server
        .call("get_ticker", json!({"symbol": "BTC/USDT"}))
        .await;
    assert_ticker_from(&sim, ok(&result));
    // The line was logged before the handshake; the task copying stderr may still be behind.
    let chosen = "non-blocking, on the IO reactor stdin=Pipe stdout=Pipe";
    let logged = tokio::time::timeout(PATIENCE, async {
        while !server.stderr.lock().unwrap().contains(chosen) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    assert!(logged.await.is_ok(), "{}", server.stderr.lock().unwrap());
}

#[tokio::test]
async fn pipes_stay_blocking_for_the_parent_and_eof_exits_0() {
    serve_one_ticker_then_close(Wire::Pipe, "stdin=Pipe stdout=Pipe").await;
}

#[tokio::test]
async fn socket_pairs_as_node_gives_them_are_served_on_the_io_reactor() {
    serve_one_ticker_then_close(Wire::Socket, "stdin=Socket stdout=Socket").await;
}

#[tokio::test]
async fn a_regular_file_on_stdout_falls_back_and_gets_every_answer() {
    let sim = simulator();
    let mut session = Session::spawn(&sim, Wire::Pipe, Wire::File).await;
    for request in handshake() {
        session.send(&request).await;
    }
    session
        .send(&json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}))
        .await;
    session.send(&ticker_call(3)).await;
    // Close stdin with the call possibly still in flight: the answer must still be written.
    let finished = session.finish().await;
    assert!(finished.status.success(), "{:?}", finished.status);
    let by_id = |id: i64| {
        finished
            .messages
            .iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("no answer to {id} in {:?}", finished.messages))
    };
    assert_eq!(finished.messages.len(), 3, "{:?}", finished.messages);
    assert!(by_id(1)["result"]["serverInfo"].is_object());
    let tools = by_id(2)["result"]["tools"].as_array().expect("tools");
    assert!(tools.iter().any(|t| t["name"] == "get_ticker"));
    assert_ticker_from(&sim, &by_id(3)["result"]["structuredContent"]);
    assert!(
        finished
            .stderr
            .contains("blocking thread pool reason=stdout is a regular file"),
        "{}",
        finished.stderr
    );
}

#[tokio::test]
async fn eof_right_after_the_handshake_exits_0_with_a_file_on_stdout() {
    let sim = simulator();
    let mut session = Session::spawn(&sim, Wire::Pipe, Wire::File).await;
    for request in handshake() {
        session.send(&request).await;
    }
    let finished = session.finish().await;
    assert!(finished.status.success(), "{:?}", finished.status);
    assert_eq!(finished.messages.len(), 1, "{:?}", finished.messages);
}

#[tokio::test]
async fn eof_before_any_request_exits_0_on_pipes_and_sockets() {
    let sim = simulator();
    for wire in [Wire::Pipe, Wire::Socket] {
        let session = Session::spawn(&sim, wire, wire).await;
        let finished = session.finish().await;
        assert!(finished.status.success(), "{:?}", finished.status);
        assert!(finished.messages.is_empty(), "{:?}", finished.messages);
        assert!(
            finished
                .stderr
                .contains("stdin closed before the MCP handshake completed"),
            "{}",
            finished.stderr
        );
    }
}

/// The file status flags (`O_NONBLOCK`, …) of the open file description behind `fd`.
#[allow(unsafe_code, reason = "fcntl(2) through libc")]
fn status_flags(fd: &OwnedFd) -> libc::c_int {
    // SAFETY: `fd` is open; F_GETFL only reads the description's flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0, "F_GETFL: {}", std::io::Error::last_os_error());
    flags
}

/// Handshake and one get_ticker over `wire`, answers read as they come; checks the fds the
/// child shares with us are still blocking, then closes stdin: exit 0, nothing more on stdout.
async fn serve_one_ticker_then_close(wire: Wire, transport_log: &str) {
    let sim = simulator();
    let mut session = Session::spawn(&sim, wire, wire).await;
    for request in handshake() {
        session.send(&request).await;
    }
    assert!(session.next_message().await["result"]["serverInfo"].is_object());
    session.send(&ticker_call(2)).await;
    let answer = session.next_message().await;
    assert_eq!(answer["id"], 2);
    assert_ticker_from(&sim, &answer["result"]["structuredContent"]);

    for fd in session.shared.drain(..) {
        assert_eq!(
            status_flags(&fd) & libc::O_NONBLOCK,
            0,
            "the parent's description is untouched"
        );
    }
    let finished = session.finish().await;
    assert!(finished.status.success(), "{:?}", finished.status);
    assert!(finished.messages.is_empty(), "{:?}", finished.messages);
    assert!(
        finished.stderr.contains(transport_log),
        "{}",
        finished.stderr
    );
}

fn handshake() -> [Value; 2] {
    [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "stdio-transport", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    ]
}

fn ticker_call(id: i64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "get_ticker", "arguments": {"symbol": "BTC/USDT"}}})
}

/// `ticker` is the BTC/USDT ticker the simulator served.
fn assert_ticker_from(sim: &SimHandle, ticker: &Value) {
    let served = sim
        .last_response("ticker/24hr", Some("BTCUSDT"))
        .expect("the sim served a ticker");
    assert_eq!(ticker["symbol"], "BTC/USDT", "{ticker}");
    assert_eq!(ticker["last"].as_f64(), Some(num(&served["lastPrice"])));
    assert_eq!(ticker["bid"].as_f64(), Some(num(&served["bidPrice"])));
    assert_eq!(ticker["ask"].as_f64(), Some(num(&served["askPrice"])));
}

/// A line of stdout: JSON, and JSON-RPC 2.0.
fn json_rpc(line: &str) -> Value {
    let message: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("non-JSON on stdout ({e}): {line:?}"));
    assert_eq!(message["jsonrpc"], "2.0", "{line}");
    message
}

/// What the child's fd 0 or 1 is.
#[derive(Clone, Copy)]
enum Wire {
    Pipe,
    /// One socket pair per fd, as Node's child_process makes them.
    Socket,
    /// A regular file (stdout only).
    File,
}

type Writer = Box<dyn AsyncWrite + Unpin + Send>;
type Reader = tokio::io::Lines<BufReader<Box<dyn AsyncRead + Unpin + Send>>>;

enum Output {
    Stream(Reader),
    File(PathBuf),
}

/// The server binary at RUST_LOG=debug on fds of our choosing, spoken to in raw JSON-RPC lines.
struct Session {
    child: Child,
    stdin: Option<Writer>,
    stdout: Output,
    /// Dups of the child's fds 0 and 1 (the same open file descriptions, as a parent's would be).
    shared: Vec<OwnedFd>,
    /// Collects stderr until EOF and returns it.
    stderr: tokio::task::JoinHandle<String>,
}

struct Finished {
    status: ExitStatus,
    /// The lines on stdout not read before, each parsed and checked.
    messages: Vec<Value>,
    stderr: String,
}

impl Session {
    async fn spawn(sim: &SimHandle, stdin: Wire, stdout: Wire) -> Session {
        let (ours_in, theirs_in) = match stdin {
            Wire::Pipe => {
                let (tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
                (Box::new(tx) as Writer, rx.into_blocking_fd().unwrap())
            }
            Wire::Socket => {
                let (ours, theirs) = socket_pair();
                (Box::new(ours) as Writer, theirs)
            }
            Wire::File => unreachable!("stdin is never a file here"),
        };
        let (output, theirs_out) = match stdout {
            Wire::Pipe => {
                let (tx, rx) = tokio::net::unix::pipe::pipe().unwrap();
                (lines(Box::new(rx)), tx.into_blocking_fd().unwrap())
            }
            Wire::Socket => {
                let (ours, theirs) = socket_pair();
                (lines(Box::new(ours)), theirs)
            }
            Wire::File => {
                static FILES: AtomicUsize = AtomicUsize::new(0);
                let path = std::env::temp_dir().join(format!(
                    "stdio-transport-{}-{}.jsonl",
                    std::process::id(),
                    FILES.fetch_add(1, Ordering::Relaxed)
                ));
                let file = std::fs::File::create(&path).unwrap();
                (Output::File(path), file.into())
            }
        };
        let mut shared = Vec::new();
        if !matches!(stdout, Wire::File) {
            shared.push(theirs_in.try_clone().unwrap());
            shared.push(theirs_out.try_clone().unwrap());
        }
        let mut cmd = server_command(sim, &[("RUST_LOG", "debug")]);
        cmd.stdin(Stdio::from(theirs_in))
            .stdout(Stdio::from(theirs_out))
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("server binary starts");
        // The Command holds our copies of the child's ends until dropped: a write end of its
        // stdout held here would keep us from ever seeing EOF.
        drop(cmd);
        let mut pipe = child.stderr.take().unwrap();
        // Read stderr as it comes: debug logs would fill the pipe and stall the server.
        let stderr = tokio::spawn(async move {
            let mut log = Vec::new();
            let _ = pipe.read_to_end(&mut log).await;
            String::from_utf8_lossy(&log).into_owned()
        });
        Session {
            child,
            stdin: Some(ours_in),
            stdout: output,
            shared,
            stderr,
        }
    }

    async fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{message}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn next_message(&mut self) -> Value {
        let Output::Stream(lines) = &mut self.stdout else {
            panic!("stdout is a file")
        };
        let line = tokio::time::timeout(PATIENCE, lines.next_line())
            .await
            .expect("an answer in time")
            .unwrap()
            .expect("a line, not EOF");
        json_rpc(&line)
    }

    /// Closes stdin (the client is done) and waits for the exit and the rest of stdout.
    async fn finish(mut self) -> Finished {
        self.shared.clear();
        drop(self.stdin.take());
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the server exits after stdin closes")
            .unwrap();
        let rest = match self.stdout {
            Output::Stream(lines) => {
                let mut rest = String::new();
                let mut stream = lines.into_inner();
                tokio::time::timeout(PATIENCE, stream.read_to_string(&mut rest))
                    .await
                    .expect("stdout closes")
                    .unwrap();
                rest
            }
            Output::File(path) => {
                let rest = std::fs::read_to_string(&path).unwrap();
                let _ = std::fs::remove_file(&path);
                rest
            }
        };
        let stderr = tokio::time::timeout(PATIENCE, self.stderr)
            .await
            .expect("stderr closes")
            .unwrap();
        Finished {
            status,
            messages: rest.lines().map(json_rpc).collect(),
            stderr,
        }
    }
}

fn lines(stream: Box<dyn AsyncRead + Unpin + Send>) -> Output {
    Output::Stream(BufReader::new(stream).lines())
}

/// (our end on the reactor, the child's end as a plain blocking fd).
fn socket_pair() -> (tokio::net::UnixStream, OwnedFd) {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    (
        tokio::net::UnixStream::from_std(ours).unwrap(),
        theirs.into(),
    )
}
