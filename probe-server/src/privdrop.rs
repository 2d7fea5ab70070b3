//! The server's privilege policy, on [`netsys::privileges`]: once every
//! socket is open, become `--user` (when started as root) and hold no
//! capability at all. Started as another user (a service manager giving
//! it ambient CAP_NET_RAW), it stays that user and still drops everything.
use netsys::privileges::{drop_all, running_as_root, user_named, Dropped, PrivilegeError};

/// Drops every capability and, as root, becomes `user`; verified (see
/// [`netsys::privileges::drop_all`]). Must run before any other thread
/// of the process starts: capabilities are per thread.
pub fn drop_privileges(user: &str) -> Result<Dropped, PrivilegeError> {
    let target = if running_as_root() {
        Some(user_named(user)?)
    } else {
        None
    };
    drop_all(target)
}
