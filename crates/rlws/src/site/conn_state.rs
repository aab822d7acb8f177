//! What a connection keeps for a callback mount across its requests (lws:
//! the protocol's per-connection user space, which lives while the
//! connection's requests stay in that mount's URL area and is replaced
//! when one goes elsewhere).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, Mutex};

/// A handler's state of one connection, of whatever type it chose.
pub(crate) type State = Arc<dyn Any + Send + Sync>;

/// Where a request's handle finds its connection's state (shared with the
/// handle, which may be used from other threads).
pub(crate) type Slot = Arc<Mutex<Option<State>>>;

/// One connection's state for the callback mount its requests are in.
#[derive(Default)]
pub(crate) struct ConnState {
    /// The mount whose state is held.
    mount: Cell<Option<u64>>,
    /// Made when a callback mount first serves the connection.
    slot: RefCell<Option<Slot>>,
}

impl ConnState {
    /// A request goes to mount `id` (`None`: to no mount): the state of
    /// another mount is dropped.
    pub(crate) fn request_for(&self, id: Option<u64>) {
        let held = self.mount.get();
        if held.is_some() && held != id {
            self.mount.set(None);
            self.slot.replace(None);
        }
    }

    /// The slot of callback mount `id`, for a request to it.
    pub(crate) fn enter(&self, id: u64) -> Slot {
        self.request_for(Some(id));
        self.mount.set(Some(id));
        self.slot
            .borrow_mut()
            .get_or_insert_with(Slot::default)
            .clone()
    }
}

/// A connection that keeps a [`ConnState`] (the server's connections).
pub(crate) trait HasConnState {
    fn conn_state(&self) -> &ConnState;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_lives_while_requests_stay_in_the_mount() {
        let c = ConnState::default();
        let a = c.enter(7);
        *a.lock().unwrap() = Some(Arc::new(1u32));
        // The same mount again: the same state.
        assert!(Arc::ptr_eq(&a, &c.enter(7)));
        c.request_for(Some(7));
        assert!(Arc::ptr_eq(&a, &c.enter(7)));
        // Another mount (or none): a new state next time.
        c.request_for(Some(8));
        let b = c.enter(7);
        assert!(!Arc::ptr_eq(&a, &b));
        c.request_for(None);
        assert!(!Arc::ptr_eq(&b, &c.enter(7)));
        // Another callback mount takes the place.
        let d = c.enter(9);
        assert!(d.lock().unwrap().is_none());
    }
}
