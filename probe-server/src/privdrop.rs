//! Dropping privileges once every socket is open.
use std::io;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}
#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Becomes `user` (when running as root) and then clears every capability
/// (also when started unprivileged with ambient CAP_NET_RAW, as the
/// systemd unit does). Returns the uid now in effect.
pub fn drop_privileges(user: Option<&str>) -> io::Result<u32> {
    // SAFETY: getuid cannot fail.
    let uid = unsafe { libc::getuid() };
    if uid == 0 {
        if let Some(user) = user {
            let (to_uid, to_gid) = lookup(user)?;
            // SAFETY: plain syscalls; results checked. glibc applies them
            // to every thread.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(to_gid) != 0
                    || libc::setuid(to_uid) != 0
                {
                    return Err(io::Error::last_os_error());
                }
            }
        }
    }
    // SAFETY: prctl with constant arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    }
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: header and data have the layout capset(2) expects (v3: two
    // data structs).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: getuid cannot fail.
    Ok(unsafe { libc::getuid() })
}

fn lookup(user: &str) -> io::Result<(libc::uid_t, libc::gid_t)> {
    let c = std::ffi::CString::new(user)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "user name with NUL"))?;
    // SAFETY: getpwnam returns a pointer to static storage or NULL; read at
    // once, before any other call could overwrite it.
    unsafe {
        let pw = libc::getpwnam(c.as_ptr());
        if pw.is_null() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no user {user:?}"),
            ));
        }
        Ok(((*pw).pw_uid, (*pw).pw_gid))
    }
}

/// The effective capability mask, from /proc (for the startup log line).
pub fn effective_caps() -> Option<String> {
    let status = std::fs::read_to_string("/proc/thread-self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| v.trim().to_string())
}
