//! A stream socket on fd 0 or 1, driven by the IO reactor without `O_NONBLOCK`.
//!
//! The fd is a dup of 0 or 1, so it shares their open file description and its flags with
//! whoever else holds them (see the parent module): instead of making it non-blocking, every
//! `recv`/`send` passes `MSG_DONTWAIT`, and epoll says when to try again.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// One direction of a stream socket: reading if registered READABLE, writing if WRITABLE.
#[derive(Debug)]
pub(super) struct Socket(AsyncFd<OwnedFd>);

impl Socket {
    /// Registers `fd` with the IO reactor; panics outside a tokio runtime with IO enabled.
    pub(super) fn new(fd: OwnedFd, interest: Interest) -> io::Result<Socket> {
        // SAFETY: an OwnedFd stays open, and as_raw_fd() returns the same number, until it is
        // dropped, and only the AsyncFd can drop it once it owns it.
        unsafe { AsyncFd::register_with_interest(fd, interest) }
            .map(Socket)
            .map_err(|e| e.into_parts().1)
    }
}

/// Datagram and seqpacket sockets have message boundaries that a byte stream would break.
pub(super) fn is_stream_socket(fd: BorrowedFd<'_>) -> bool {
    let mut kind: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `fd` is open for the duration of the call; `kind` and `len` are live locals and
    // `len` holds the size of `kind`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TYPE,
            (&mut kind as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    rc == 0 && kind == libc::SOCK_STREAM
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(())); // a recv into nothing would read as EOF
        }
        loop {
            let mut guard = ready!(self.0.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            let received = guard.try_io(|fd| {
                // SAFETY: `unfilled` is writable memory of the length given; the fd is open.
                let rc = unsafe {
                    libc::recv(
                        fd.as_raw_fd(),
                        unfilled.as_mut_ptr().cast(),
                        unfilled.len(),
                        libc::MSG_DONTWAIT,
                    )
                };
                byte_count(rc)
            });
            match received {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // EAGAIN: try_io cleared the readiness; polling again waits for the next event.
                Err(_would_block) => {}
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.0.poll_write_ready(cx))?;
            let sent = guard.try_io(|fd| {
                // SAFETY: `data` is readable memory of the length given; the fd is open.
                // MSG_NOSIGNAL: a client that went away is an EPIPE error here, not a signal.
                let rc = unsafe {
                    libc::send(
                        fd.as_raw_fd(),
                        data.as_ptr().cast(),
                        data.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                };
                byte_count(rc)
            });
            match sent {
                Ok(Ok(n)) => return Poll::Ready(Ok(n)),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => {}
            }
        }
    }

    /// send() leaves nothing buffered on our side.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// No shutdown(SHUT_WR): it acts on the socket itself, which stdin (the same socket, in an
    /// inetd-style launch) or another holder of fd 1 may still use. The peer sees EOF when this
    /// process exits.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A `recv`/`send` return value: a byte count, or -1 and errno.
fn byte_count(rc: isize) -> io::Result<usize> {
    usize::try_from(rc).map_err(|_| io::Error::last_os_error())
}
