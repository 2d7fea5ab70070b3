//! CAP_NET_RAW: detect it, raise it into the effective set only around the
//! `socket()` calls that need it, then drop every capability for good.
//!
//! How the binary gets the capability:
//! - file capabilities (`setcap cap_net_raw+ep`): at exec the permitted and
//!   effective sets hold CAP_NET_RAW, uid stays the user's;
//! - root (directly or through sudo): every capability is permitted.
//!
//! [`drop_all`] then clears the effective, permitted, inheritable and
//! ambient sets, and sets `no_new_privs`. A process with uid 0 and no
//! capabilities can still write every file root owns, so when we run as
//! root through sudo (`SUDO_UID`/`SUDO_GID` set) we also become the invoking
//! user: then a `--write` file is created as that user, not as root. Plain
//! root without sudo variables keeps uid 0 (there is nobody to switch to;
//! `ip netns exec` in the tests runs that way).
//!
//! Capabilities are per thread on Linux (capset(2) changes the calling
//! thread only), so [`drop_all`] must run before any other thread starts.
//! setresuid/setresgid through glibc apply to every thread.
use super::error::NetError;
use std::io;

/// CAP_NET_RAW's bit number (linux/capability.h).
pub const CAP_NET_RAW: u32 = 13;
const CAP_SETUID: u32 = 7;
const CAP_SETGID: u32 = 6;
/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// The calling thread's capability sets (bit n = capability n).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

impl CapSets {
    pub fn permits(&self, cap: u32) -> bool {
        self.permitted & (1 << cap) != 0
    }
}

/// Reads the calling thread's capability sets (capget(2)).
pub fn current() -> io::Result<CapSets> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array have the layout capget(2)
    // expects for version 3; both outlive the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut header as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok(CapSets {
        effective: join(data[0].effective, data[1].effective),
        permitted: join(data[0].permitted, data[1].permitted),
        inheritable: join(data[0].inheritable, data[1].inheritable),
    })
}

fn set(sets: CapSets) -> io::Result<()> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(sets.effective);
    let (p0, p1) = split(sets.permitted);
    let (i0, i1) = split(sets.inheritable);
    let data = [
        CapData {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        CapData {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: as in `current`; capset only reads `data`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_capset,
            &mut header as *mut CapHeader,
            data.as_ptr(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Empties the effective set, keeping the permitted one: call first thing,
/// so that with `setcap cap_net_raw+ep` (effective at exec) or as root
/// nothing runs with a capability until [`with_net_raw`] raises the one
/// it needs.
pub fn lower_effective() -> Result<(), NetError> {
    let caps = current().map_err(|e| NetError::io("capget", e))?;
    if caps.effective == 0 {
        return Ok(());
    }
    set(CapSets {
        effective: 0,
        ..caps
    })
    .map_err(|e| NetError::io("capset (lower effective)", e))
}

/// Whether this process may open raw sockets at all (CAP_NET_RAW permitted).
/// Only tests ask beforehand: the verbs just try and report the error.
#[cfg(test)]
pub fn has_net_raw() -> bool {
    current().is_ok_and(|c| c.permits(CAP_NET_RAW))
}

fn no_privilege(detail: impl Into<String>) -> NetError {
    NetError::NoPrivilege {
        detail: detail.into(),
    }
}

/// Runs `open` with CAP_NET_RAW (and nothing else) effective, then lowers
/// the effective set back to empty (the permitted set is kept until
/// [`drop_all`]). An EPERM/EACCES from `open` becomes
/// [`NetError::NoPrivilege`] with the fix.
pub fn with_net_raw<T>(open: impl FnOnce() -> io::Result<T>) -> Result<T, NetError> {
    let caps = current().map_err(|e| NetError::io("capget", e))?;
    if !caps.permits(CAP_NET_RAW) {
        return Err(no_privilege("this process does not hold it"));
    }
    let raised = CapSets {
        effective: 1 << CAP_NET_RAW,
        ..caps
    };
    set(raised).map_err(|e| NetError::io("capset (raise CAP_NET_RAW)", e))?;
    let opened = open();
    let lowered = CapSets {
        effective: 0,
        ..caps
    };
    // Lowering can only fail if the sets changed under us; the sockets are
    // open either way and drop_all clears everything later.
    let _ = set(lowered);
    opened.map_err(|e| match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) => {
            no_privilege(format!("the kernel refused the raw socket: {e}"))
        }
        _ => NetError::io("opening raw sockets", e),
    })
}

/// What [`drop_all`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub gid: u32,
    /// Became the sudo-invoking user (`SUDO_UID`/`SUDO_GID`).
    pub switched_user: bool,
}

fn env_id(name: &str) -> Option<u32> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn check(rc: libc::c_int, what: &str) -> Result<(), NetError> {
    if rc != 0 {
        return Err(NetError::io(what, io::Error::last_os_error()));
    }
    Ok(())
}

/// Drops every capability (effective, permitted, inheritable, ambient),
/// becomes the sudo-invoking user when running as root under sudo, and
/// sets `no_new_privs`. Call from the main thread before other threads
/// start and after every raw socket is open.
pub fn drop_all() -> Result<Dropped, NetError> {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let caps = current().map_err(|e| NetError::io("capget", e))?;
    let mut result = Dropped {
        uid,
        gid,
        switched_user: false,
    };
    let sudo = (env_id("SUDO_UID"), env_id("SUDO_GID"));
    if let (0, (Some(to_uid), Some(to_gid))) = (uid, sudo) {
        if to_uid != 0 && caps.permits(CAP_SETUID) && caps.permits(CAP_SETGID) {
            // setgroups/setresgid need CAP_SETGID effective, setresuid
            // CAP_SETUID: make the permitted set effective for these calls.
            set(CapSets {
                effective: caps.permitted,
                ..caps
            })
            .map_err(|e| NetError::io("capset", e))?;
            // SAFETY: plain syscalls; setgroups gets an empty list.
            unsafe {
                check(libc::setgroups(0, std::ptr::null()), "setgroups")?;
                check(libc::setresgid(to_gid, to_gid, to_gid), "setresgid")?;
                check(libc::setresuid(to_uid, to_uid, to_uid), "setresuid")?;
            }
            result = Dropped {
                uid: to_uid,
                gid: to_gid,
                switched_user: true,
            };
        }
    }
    // SAFETY: prctl with integer arguments only.
    unsafe {
        // Fails with EINVAL on kernels without ambient capabilities (< 4.3),
        // where there is nothing to clear.
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        );
    }
    set(CapSets::default()).map_err(|e| NetError::io("capset (drop all)", e))?;
    // SAFETY: prctl with integer arguments only.
    unsafe {
        check(
            libc::prctl(
                libc::PR_SET_NO_NEW_PRIVS,
                1 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ),
            "prctl(PR_SET_NO_NEW_PRIVS)",
        )?;
    }
    let after = current().map_err(|e| NetError::io("capget", e))?;
    if after != CapSets::default() {
        return Err(NetError::io(
            "dropping capabilities",
            io::Error::other(format!("still holding {after:?}")),
        ));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capget_reads_this_thread() {
        let caps = current().expect("capget works on every Linux");
        // Effective is always a subset of permitted.
        assert_eq!(caps.effective & !caps.permitted, 0);
    }

    #[test]
    fn with_net_raw_matches_permitted_set() {
        // Run in a thread of its own: capset changes only that thread, so
        // other tests keep their capabilities.
        std::thread::spawn(|| {
            let had = has_net_raw();
            let r = with_net_raw(|| Ok(current()));
            match r {
                Ok(Ok(inside)) => {
                    assert!(had);
                    assert_eq!(inside.effective, 1 << CAP_NET_RAW);
                    let after = current().unwrap();
                    assert_eq!(after.effective, 0, "effective lowered after open");
                    assert!(after.permits(CAP_NET_RAW), "permitted kept");
                }
                Ok(Err(e)) => panic!("capget inside failed: {e}"),
                Err(e) => {
                    assert!(!had);
                    assert!(e.is_privilege());
                    assert!(e.to_string().contains("setcap cap_net_raw+ep"));
                }
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn lowering_keeps_the_permitted_set() {
        std::thread::spawn(|| {
            let before = current().unwrap();
            lower_effective().unwrap();
            let after = current().unwrap();
            assert_eq!(after.effective, 0);
            assert_eq!(after.permitted, before.permitted);
            // Raising still works afterwards when permitted.
            if before.permits(CAP_NET_RAW) {
                assert!(with_net_raw(|| Ok(())).is_ok());
            }
        })
        .join()
        .unwrap();
    }

    #[test]
    fn missing_privilege_message_has_the_fix() {
        let e = no_privilege("this process does not hold it");
        let text = e.to_string();
        assert!(text.contains("sudo setcap cap_net_raw+ep $(command -v mptcp-probe)"));
        assert!(text.contains("sudo"));
    }
}
