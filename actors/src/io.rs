//! Where exchange calls run.
//!
//! - On a runtime of their own (the default): ccxt's parsing (50–800 µs of CPU a call) never
//!   delays the thread that serves cache hits, and two cores share the work under load. Each
//!   call pays two thread hand-offs (measured ~0.1–0.2 ms on a 2-core VM).
//! - Locally, on the actor's thread (`EXCHANGE_IO_THREADS=0`): a lone miss costs only the
//!   exchange's round trip, at the price of parsing on the thread that also serves hits.

use std::future::Future;

use tokio::runtime::{Handle, Runtime};
use tokio::task::JoinHandle;

#[derive(Clone)]
pub enum ExchangeIo {
    /// On the calling actor's thread (inside its `LocalSet`).
    Local,
    Runtime(Handle),
}

impl ExchangeIo {
    /// Runs `call` where exchange calls run. A panic inside comes back as a `JoinError`
    /// either way, never unwinding through the actor. Call from an actor (a `LocalSet`).
    pub fn spawn<F>(&self, call: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Self::Local => tokio::task::spawn_local(call),
            Self::Runtime(handle) => handle.spawn(call),
        }
    }
}

/// The dedicated runtime, if any. Shut down in the background on drop, so that dropping the
/// engine from async code (where a blocking runtime shutdown panics) is fine.
pub struct IoRuntime(Option<Runtime>);

impl IoRuntime {
    /// `threads == 0`: no runtime of its own, calls run locally.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        if threads == 0 {
            return Ok(Self(None));
        }
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("exchange-io")
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
    }

    pub fn place(&self) -> ExchangeIo {
        match &self.0 {
            Some(runtime) => ExchangeIo::Runtime(runtime.handle().clone()),
            None => ExchangeIo::Local,
        }
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
