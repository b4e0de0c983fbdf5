//! A request's place in its worker: one of [`MAX_IN_FLIGHT`](super::MAX_IN_FLIGHT) while it
//! works. A `watch_read` long poll (up to 30 s) does no work while it waits, so it trades its
//! place for one of [`MAX_PARKED`]: the worker keeps reading and serving other requests
//! meanwhile, and what waiting polls can hold (a task, a subscription) is still bounded. When
//! every parked place is taken, a long poll keeps its working place (it still completes; the
//! worker just takes fewer requests while it waits).

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Long polls one worker lets wait without a working place.
pub const MAX_PARKED: usize = 1_024;

pub struct Slot {
    /// The working place, or once parked the parked one.
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    parked: Arc<Semaphore>,
}

impl Slot {
    pub fn new(permit: OwnedSemaphorePermit, parked: Arc<Semaphore>) -> Arc<Self> {
        Arc::new(Self {
            permit: Mutex::new(Some(permit)),
            parked,
        })
    }

    /// Gives the working place back, holding a parked one instead (when there is one free).
    pub fn park(&self) {
        let Ok(parked) = self.parked.clone().try_acquire_owned() else {
            return;
        };
        let mut permit = self.permit.lock().unwrap_or_else(|p| p.into_inner());
        // Replacing drops the working permit, which frees the place.
        *permit = Some(parked);
    }
}
