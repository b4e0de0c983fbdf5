//! MCP over stdin/stdout, driven by the IO reactor when fd 0 and fd 1 allow it.
//!
//! `rmcp::transport::stdio()` wraps tokio's `stdin()`/`stdout()`, which run every read and write
//! on tokio's blocking thread pool: a thread hand-off per line, which caps a stdio server well
//! below what rmcp can do (docs/notes/rmcp.md, "Figures"). MCP clients start servers with
//! pipes (Python's asyncio) or Unix socket pairs (Node's `child_process`, hence the TypeScript
//! SDK and the desktop assistants built on it); both can be driven by epoll instead. A terminal,
//! a regular file or anything else on either side falls back to `stdio()`.
//!
//! fds 0 and 1 themselves are never made non-blocking. `O_NONBLOCK` belongs to the open file
//! description, which other processes may share (the parent; a shell running `{ server; cat; }`;
//! whoever else inherited it): they would see EAGAIN from reads and writes they expect to block,
//! while we run and after we die (no restore runs on SIGKILL or abort). Instead:
//! - a pipe is reopened through `/proc/self/fd/N`: a new description of the same pipe, private to
//!   this process, opened with `O_NONBLOCK` (rmcp's `stdio_pipes()` does the same for FIFOs, but
//!   not for sockets, and does not tell which way it went);
//! - a socket cannot be reopened that way (ENXIO), so its fd is dup'ed (the dup shares the
//!   description, which stays blocking) and every `recv`/`send` passes `MSG_DONTWAIT`.
//!
//! The transport owns only these new fds: dropping it closes them and leaves 0 and 1 open.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::pin::Pin;
use std::task::{Context, Poll};

// The crate's only unsafe code: recv/send/getsockopt on a socket fd (std has no MSG_DONTWAIT
// calls on a borrowed fd). Each block there carries its SAFETY argument.
#[allow(unsafe_code, reason = "socket syscalls through libc")]
mod socket;

use rmcp::service::ServerInitializeError;
use rmcp::ServiceExt;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::unix::pipe;

use super::McpServer;
use socket::{is_stream_socket, Socket};

/// Serves MCP over stdin/stdout until the client closes stdin.
pub(super) async fn serve(server: McpServer) -> Result<(), String> {
    let running = match server.serve(stdio_transport()).await {
        Ok(running) => running,
        // Closing stdin is how a client ends, with or without a session first (a probe, a
        // launcher checking that the command starts): the end of input, not a failure.
        Err(ServerInitializeError::ConnectionClosed(waiting_for)) => {
            tracing::info!(%waiting_for, "stdin closed before the MCP handshake completed");
            return Ok(());
        }
        Err(e) => return Err(format!("MCP handshake failed: {e}")),
    };
    running
        .waiting()
        .await
        .map_err(|e| format!("MCP session ended with an error: {e}"))?;
    Ok(())
}

/// How one side of the transport reaches its fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioKind {
    /// A pipe or FIFO, reopened non-blocking on the IO reactor.
    Pipe,
    /// A stream socket on the IO reactor, `MSG_DONTWAIT` per call.
    Socket,
    /// tokio's `stdin()`/`stdout()` (what `rmcp::transport::stdio()` returns): blocking pool.
    Blocking,
}

/// The MCP transport over fds 0 and 1 (see the module docs): pass it to `serve()`. Both sides
/// are on the IO reactor, or both are `rmcp::transport::stdio()`. Logs the choice at debug level.
///
/// # Panics
///
/// Outside a tokio runtime with IO enabled, like `tokio::net::unix::pipe`.
pub fn stdio_transport() -> (StdioReader, StdioWriter) {
    let (stdin, stdout) = (io::stdin(), io::stdout());
    let reader = open(stdin.as_fd(), "stdin", false).map(|side| match side {
        Side::Pipe(fd) => pipe::Receiver::from_owned_fd(fd).map(Reader::Pipe),
        Side::Socket(fd) => Socket::new(fd, Interest::READABLE).map(Reader::Socket),
    });
    let writer = open(stdout.as_fd(), "stdout", true).map(|side| match side {
        Side::Pipe(fd) => pipe::Sender::from_owned_fd(fd).map(Writer::Pipe),
        Side::Socket(fd) => Socket::new(fd, Interest::WRITABLE).map(Writer::Socket),
    });
    let fallback = match (reader, writer) {
        (Ok(Ok(reader)), Ok(Ok(writer))) => {
            let (reader, writer) = (StdioReader(reader), StdioWriter(writer));
            tracing::debug!(
                stdin = ?reader.kind(),
                stdout = ?writer.kind(),
                "MCP stdio transport: non-blocking, on the IO reactor"
            );
            return (reader, writer);
        }
        (Err(why), _) | (_, Err(why)) => why,
        (Ok(Err(e)), _) => format!("stdin: {e}"),
        (_, Ok(Err(e))) => format!("stdout: {e}"),
    };
    tracing::debug!(
        reason = %fallback,
        "MCP stdio transport: tokio stdin()/stdout() on the blocking thread pool"
    );
    let (stdin, stdout) = rmcp::transport::stdio();
    (
        StdioReader(Reader::Blocking(stdin)),
        StdioWriter(Writer::Blocking(stdout)),
    )
}

/// A new fd for one side, private to the transport, or why there is none.
enum Side {
    Pipe(OwnedFd),
    Socket(OwnedFd),
}

fn open(fd: BorrowedFd<'_>, name: &str, write: bool) -> Result<Side, String> {
    // A dup: fstat through std needs a File, which closes its fd when dropped; a socket keeps
    // the dup as its own fd.
    let file = fd
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| format!("{name}: {e}"))?;
    let kind = file
        .metadata()
        .map_err(|e| format!("{name}: fstat: {e}"))?
        .file_type();
    if kind.is_fifo() {
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        return OpenOptions::new()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
            .map(|f| Side::Pipe(f.into()))
            .map_err(|e| format!("{name} is a pipe, but reopening {path} failed: {e}"));
    }
    if kind.is_socket() {
        return if is_stream_socket(file.as_fd()) {
            Ok(Side::Socket(file.into()))
        } else {
            Err(format!("{name} is a socket, but not a stream socket"))
        };
    }
    let what = if kind.is_file() {
        "a regular file"
    } else if kind.is_char_device() {
        "a terminal or character device"
    } else {
        "neither a pipe nor a socket"
    };
    Err(format!("{name} is {what}"))
}

/// The reading half of [`stdio_transport`].
#[derive(Debug)]
pub struct StdioReader(Reader);

#[derive(Debug)]
enum Reader {
    Pipe(pipe::Receiver),
    Socket(Socket),
    Blocking(tokio::io::Stdin),
}

/// The writing half of [`stdio_transport`].
#[derive(Debug)]
pub struct StdioWriter(Writer);

#[derive(Debug)]
enum Writer {
    Pipe(pipe::Sender),
    Socket(Socket),
    Blocking(tokio::io::Stdout),
}

impl StdioReader {
    pub fn kind(&self) -> StdioKind {
        match self.0 {
            Reader::Pipe(_) => StdioKind::Pipe,
            Reader::Socket(_) => StdioKind::Socket,
            Reader::Blocking(_) => StdioKind::Blocking,
        }
    }
}

impl StdioWriter {
    pub fn kind(&self) -> StdioKind {
        match self.0 {
            Writer::Pipe(_) => StdioKind::Pipe,
            Writer::Socket(_) => StdioKind::Socket,
            Writer::Blocking(_) => StdioKind::Blocking,
        }
    }
}

impl AsyncRead for StdioReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Reader::Pipe(r) => Pin::new(r).poll_read(cx, buf),
            Reader::Socket(r) => Pin::new(r).poll_read(cx, buf),
            Reader::Blocking(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for StdioWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            Writer::Pipe(w) => Pin::new(w).poll_write(cx, buf),
            Writer::Socket(w) => Pin::new(w).poll_write(cx, buf),
            Writer::Blocking(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Writer::Pipe(w) => Pin::new(w).poll_flush(cx),
            Writer::Socket(w) => Pin::new(w).poll_flush(cx),
            Writer::Blocking(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            Writer::Pipe(w) => Pin::new(w).poll_shutdown(cx),
            Writer::Socket(w) => Pin::new(w).poll_shutdown(cx),
            Writer::Blocking(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}
