//! One privilege policy for the client and the server: hold CAP_NET_RAW
//! only while opening sockets, then drop everything for good and prove it.
//!
//! How a process gets the capability:
//! - file capabilities (`setcap cap_net_raw+ep`): at exec the permitted and
//!   effective sets hold CAP_NET_RAW, the uid stays the user's;
//! - root (directly, through sudo, or a service manager): every capability
//!   is permitted;
//! - ambient capabilities given by a service manager to a non-root user.
//!
//! The sequence:
//! 1. [`lower_effective`] first thing: nothing runs with a capability in
//!    effect until it is needed;
//! 2. [`with_net_raw`] around the calls that open raw and packet sockets:
//!    CAP_NET_RAW alone is raised into the effective set, then lowered;
//! 3. [`drop_all`] once every socket is open: clears the effective,
//!    permitted, inheritable and ambient sets, empties the bounding set
//!    (when CAP_SETPCAP allows), becomes the target user (no supplementary
//!    groups, real, effective and saved ids all the target's), sets
//!    `no_new_privs`, and then verifies all of it, failing if anything is
//!    left.
//!
//! A process with uid 0 and no capability can still write every file root
//! owns, hence the user switch. Whom to become is the caller's policy:
//! [`sudo_user`] (the client: the user who ran sudo) or [`user_named`] (the
//! server's `--user`).
//!
//! Capabilities, the bounding set and `no_new_privs` are per thread on
//! Linux (capset(2) and prctl(2) change the calling thread only); the C
//! library applies setresuid/setresgid/setgroups to every thread. So
//! [`drop_all`] must run before any other thread starts: threads started
//! earlier keep what they had. (An async runtime with worker threads must
//! be built after it.)
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};
use std::io;

/// The fix printed whenever raw sockets cannot be opened for lack of
/// privilege.
pub const PRIVILEGE_FIX: &str =
    "run `sudo setcap cap_net_raw+ep $(command -v mptcp-probe)` once, or run it with sudo";

/// What failed, with the fix where there is one ([`PrivilegeError::fix`]).
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    /// CAP_NET_RAW is not in the permitted set, or the kernel refused the
    /// socket anyway (EPERM, as in an unprivileged user namespace).
    #[error("CAP_NET_RAW is not available ({detail}); {PRIVILEGE_FIX}")]
    NoNetRaw { detail: String },
    /// Opening the sockets failed for another reason.
    #[error("opening sockets: {0}")]
    Open(#[source] io::Error),
    /// Reading or changing a capability set.
    #[error("{what}: {detail}")]
    Caps { what: &'static str, detail: String },
    /// A system call of the drop (setresuid, prctl, ...).
    #[error("{what}: {source}")]
    System {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("no user named {0:?} to switch to")]
    NoSuchUser(String),
    /// The drop ran, and the verification found this left.
    #[error("privileges not fully dropped: {0}")]
    NotDropped(String),
}

impl PrivilegeError {
    /// How the user fixes it, when that is in their hands.
    pub fn fix(&self) -> Option<&'static str> {
        match self {
            PrivilegeError::NoNetRaw { .. } => Some(PRIVILEGE_FIX),
            _ => None,
        }
    }
}

fn caps_error(what: &'static str) -> impl Fn(caps::errors::CapsError) -> PrivilegeError {
    move |e| PrivilegeError::Caps {
        what,
        detail: e.to_string(),
    }
}

fn system(what: &'static str) -> impl Fn(nix::Error) -> PrivilegeError {
    move |e| PrivilegeError::System {
        what,
        source: e.into(),
    }
}

fn read(set: CapSet) -> Result<CapsHashSet, PrivilegeError> {
    caps::read(None, set).map_err(caps_error("capget"))
}

/// Empties the effective set, keeping the permitted one: call first thing,
/// so that with `setcap cap_net_raw+ep` (effective at exec) or as root
/// nothing runs with a capability until [`with_net_raw`] raises the one it
/// needs.
pub fn lower_effective() -> Result<(), PrivilegeError> {
    if read(CapSet::Effective)?.is_empty() {
        return Ok(());
    }
    caps::clear(None, CapSet::Effective).map_err(caps_error("capset (lower effective)"))
}

/// Whether this thread may open raw sockets at all (CAP_NET_RAW permitted).
pub fn has_net_raw() -> bool {
    caps::has_cap(None, CapSet::Permitted, Capability::CAP_NET_RAW).unwrap_or(false)
}

/// Runs `open` with CAP_NET_RAW (and nothing else) effective, then lowers
/// the effective set back to empty; the permitted set is kept until
/// [`drop_all`]. A refusal by the kernel (EPERM, EACCES) becomes
/// [`PrivilegeError::NoNetRaw`], with the fix.
pub fn with_net_raw<T>(open: impl FnOnce() -> io::Result<T>) -> Result<T, PrivilegeError> {
    if !has_net_raw() {
        return Err(PrivilegeError::NoNetRaw {
            detail: "this process does not hold it".into(),
        });
    }
    let only_net_raw = CapsHashSet::from([Capability::CAP_NET_RAW]);
    caps::set(None, CapSet::Effective, &only_net_raw)
        .map_err(caps_error("capset (raise CAP_NET_RAW)"))?;
    let opened = open();
    // Lowering fails only if the sets changed under us; the sockets are
    // open either way and drop_all clears everything later.
    let _ = caps::clear(None, CapSet::Effective);
    opened.map_err(|e| {
        let refused = e.kind() == io::ErrorKind::PermissionDenied
            || matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES));
        if refused {
            PrivilegeError::NoNetRaw {
                detail: format!("the kernel refused the socket: {e}"),
            }
        } else {
            PrivilegeError::Open(e)
        }
    })
}

/// A user to become.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserIds {
    pub uid: u32,
    pub gid: u32,
}

impl UserIds {
    /// This process's real user and group.
    pub fn current() -> Self {
        UserIds {
            uid: Uid::current().as_raw(),
            gid: Gid::current().as_raw(),
        }
    }
}

/// The client's rule: running as root through sudo (`SUDO_UID` and
/// `SUDO_GID` set, naming someone other than root), become that user, so a
/// `--write` file is created as them, not as root. Plain root without sudo
/// variables keeps uid 0 (there is nobody to switch to; `ip netns exec`
/// in the tests runs that way), and so does a root without CAP_SETUID and
/// CAP_SETGID (a restricted container), which could not switch.
pub fn sudo_user() -> Option<UserIds> {
    let can_switch = [Capability::CAP_SETUID, Capability::CAP_SETGID]
        .iter()
        .all(|&c| caps::has_cap(None, CapSet::Permitted, c).unwrap_or(false));
    if !can_switch {
        return None;
    }
    sudo_rule(
        Uid::current().as_raw(),
        std::env::var("SUDO_UID").ok().as_deref(),
        std::env::var("SUDO_GID").ok().as_deref(),
    )
}

/// [`sudo_user`] without the environment and capability reads.
pub fn sudo_rule(real_uid: u32, sudo_uid: Option<&str>, sudo_gid: Option<&str>) -> Option<UserIds> {
    if real_uid != 0 {
        return None;
    }
    let uid = sudo_uid?.trim().parse().ok()?;
    let gid = sudo_gid?.trim().parse().ok()?;
    (uid != 0).then_some(UserIds { uid, gid })
}

/// The user `name` from the password database (its primary group).
pub fn user_named(name: &str) -> Result<UserIds, PrivilegeError> {
    match nix::unistd::User::from_name(name) {
        Ok(Some(user)) => Ok(UserIds {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        }),
        Ok(None) => Err(PrivilegeError::NoSuchUser(name.to_string())),
        Err(e) => Err(system("getpwnam_r")(e)),
    }
}

/// Whether the real user is root (whom a `--user` applies to).
pub fn running_as_root() -> bool {
    Uid::current().is_root()
}

/// What [`drop_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub gid: u32,
    /// Became another user than the one the process started as.
    pub switched_user: bool,
    /// The bounding set was emptied (CAP_SETPCAP was held).
    pub bounding_cleared: bool,
}

/// Drops every capability of the calling thread and becomes `target`
/// (`None`: stays the real user it is), then verifies (see the module
/// documentation). Call after every privileged socket is open and before
/// any other thread starts.
pub fn drop_all(target: Option<UserIds>) -> Result<Dropped, PrivilegeError> {
    let current = UserIds::current();
    let target = target.unwrap_or(current);
    let permitted = read(CapSet::Permitted)?;
    // The steps below need their capability in effect (CAP_SETPCAP,
    // CAP_SETGID, CAP_SETUID): raise every permitted one for them.
    caps::set(None, CapSet::Effective, &permitted)
        .map_err(caps_error("capset (raise permitted)"))?;
    // Before the user switch, which takes CAP_SETPCAP away.
    let bounding_cleared = permitted.contains(&Capability::CAP_SETPCAP);
    if bounding_cleared {
        for cap in read(CapSet::Bounding)? {
            caps::drop(None, CapSet::Bounding, cap)
                .map_err(caps_error("prctl(PR_CAPBSET_DROP)"))?;
        }
    }
    // Kernels before 4.3 have no ambient set, so nothing to clear.
    let ambient = caps::runtime::ambient_set_supported().is_ok();
    if ambient {
        caps::clear(None, CapSet::Ambient)
            .map_err(caps_error("prctl(PR_CAP_AMBIENT_CLEAR_ALL)"))?;
    }
    // Supplementary groups need CAP_SETGID to change; without it they are
    // the invoking user's own.
    let clear_groups = permitted.contains(&Capability::CAP_SETGID);
    if clear_groups {
        nix::unistd::setgroups(&[]).map_err(system("setgroups"))?;
    }
    // Group first: changing it needs the privileges the uid switch drops.
    let (uid, gid) = (Uid::from_raw(target.uid), Gid::from_raw(target.gid));
    nix::unistd::setresgid(gid, gid, gid).map_err(system("setresgid"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(system("setresuid"))?;
    // Leaving uid 0 already cleared the permitted and effective sets; a
    // process that stays root (or never was) clears them here.
    caps::clear(None, CapSet::Inheritable).map_err(caps_error("capset (clear inheritable)"))?;
    caps::clear(None, CapSet::Permitted).map_err(caps_error("capset (clear permitted)"))?;
    nix::sys::prctl::set_no_new_privs().map_err(system("prctl(PR_SET_NO_NEW_PRIVS)"))?;
    verify(target, ambient, bounding_cleared, clear_groups)?;
    Ok(Dropped {
        uid: target.uid,
        gid: target.gid,
        switched_user: target != current,
        bounding_cleared,
    })
}

/// Checks what [`drop_all`] promises, on the calling thread.
fn verify(
    target: UserIds,
    ambient: bool,
    bounding: bool,
    groups: bool,
) -> Result<(), PrivilegeError> {
    let not_dropped = |what: String| Err(PrivilegeError::NotDropped(what));
    let mut sets = vec![
        ("effective", CapSet::Effective),
        ("permitted", CapSet::Permitted),
        ("inheritable", CapSet::Inheritable),
    ];
    if ambient {
        sets.push(("ambient", CapSet::Ambient));
    }
    if bounding {
        sets.push(("bounding", CapSet::Bounding));
    }
    for (name, set) in sets {
        let left = read(set)?;
        if !left.is_empty() {
            let mut names: Vec<String> = left.iter().map(ToString::to_string).collect();
            names.sort();
            return not_dropped(format!("the {name} set still holds {}", names.join(", ")));
        }
    }
    let uids = nix::unistd::getresuid().map_err(system("getresuid"))?;
    let want = Uid::from_raw(target.uid);
    if [uids.real, uids.effective, uids.saved] != [want; 3] {
        return not_dropped(format!(
            "uids are {}/{}/{} (real/effective/saved), not {want}",
            uids.real, uids.effective, uids.saved
        ));
    }
    let gids = nix::unistd::getresgid().map_err(system("getresgid"))?;
    let want = Gid::from_raw(target.gid);
    if [gids.real, gids.effective, gids.saved] != [want; 3] {
        return not_dropped(format!(
            "gids are {}/{}/{} (real/effective/saved), not {want}",
            gids.real, gids.effective, gids.saved
        ));
    }
    if groups
        && !nix::unistd::getgroups()
            .map_err(system("getgroups"))?
            .is_empty()
    {
        return not_dropped("supplementary groups are left".into());
    }
    if !nix::sys::prctl::get_no_new_privs().map_err(system("prctl(PR_GET_NO_NEW_PRIVS)"))? {
        return not_dropped("no_new_privs is not set".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
