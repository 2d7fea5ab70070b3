//! Network namespaces for end-to-end tests: a guard per namespace (unique
//! name, deleted on drop even when the test panics), veth pairs, addresses,
//! routes, sysctls, commands run inside a namespace, and closures run on a
//! thread that entered it (sockets created there belong to the namespace).
//!
//! Everything goes through `ip` (iproute2) except entering a namespace,
//! which is `setns(2)` on a fresh thread so the test's own threads never
//! move.
use std::fs::File;
use std::io;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Why namespace tests cannot run here, or `None` when they can.
pub fn unavailable() -> Option<String> {
    if !netsys::process::is_root() {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        _ => return Some("`ip` (iproute2) not found".into()),
    }
    None
}

/// Prints why a test is skipped and returns true when it must be.
pub fn skip(test: &str) -> bool {
    match unavailable() {
        Some(why) => {
            println!("skipped {test}: {why}");
            true
        }
        None => false,
    }
}

/// Whether a command exists (for tests that also need curl, iptables ...).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn check(out: Output, what: &str) -> io::Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(io::Error::other(format!(
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        )))
    }
}

/// Runs a command on the host, failing with its stderr.
pub fn host_cmd(args: &[&str]) -> io::Result<Output> {
    let (prog, rest) = args
        .split_first()
        .ok_or_else(|| io::Error::other("empty command"))?;
    check(Command::new(prog).args(rest).output()?, &args.join(" "))
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    file: File,
}

impl Netns {
    /// Creates a namespace named after `tag`, this process and a counter,
    /// with loopback up.
    pub fn new(tag: &str) -> io::Result<Self> {
        let name = format!(
            "mpp-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        host_cmd(&["ip", "netns", "add", &name])?;
        let file = match File::open(format!("/run/netns/{name}")) {
            Ok(f) => f,
            Err(e) => {
                let _ = host_cmd(&["ip", "netns", "del", &name]);
                return Err(e);
            }
        };
        let ns = Netns { name, file };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs a command inside the namespace, failing with its stderr.
    pub fn exec(&self, args: &[&str]) -> io::Result<Output> {
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        check(
            self.command(prog).args(rest).output()?,
            &format!("[{}] {}", self.name, args.join(" ")),
        )
    }

    /// Starts a command inside the namespace (the caller waits or kills it).
    pub fn spawn(&self, args: &[&str]) -> io::Result<Child> {
        let (prog, rest) = args
            .split_first()
            .ok_or_else(|| io::Error::other("empty command"))?;
        self.command(prog).args(rest).spawn()
    }

    /// `ip -n NS ...`.
    pub fn ip(&self, args: &[&str]) -> io::Result<Output> {
        let mut all = vec!["ip", "-n", &self.name];
        all.extend_from_slice(args);
        host_cmd(&all)
    }

    /// Sets a sysctl of this namespace (`net.mptcp.enabled`, ...).
    pub fn sysctl(&self, key: &str, value: &str) -> io::Result<()> {
        self.exec(&["sysctl", "-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    /// Adds an address (`10.0.0.1/24`) to an interface and brings it up.
    pub fn addr(&self, ifname: &str, cidr: &str) -> io::Result<()> {
        let family = if cidr.contains(':') { "-6" } else { "-4" };
        self.ip(&[family, "addr", "add", cidr, "dev", ifname, "nodad"])
            .or_else(|_| self.ip(&[family, "addr", "add", cidr, "dev", ifname]))?;
        self.ip(&["link", "set", ifname, "up"]).map(|_| ())
    }

    /// Adds a route (`default`, `10.2.0.0/24`) via a gateway.
    pub fn route(&self, dest: &str, via: &str) -> io::Result<()> {
        let family = if via.contains(':') { "-6" } else { "-4" };
        self.ip(&[family, "route", "add", dest, "via", via])
            .map(|_| ())
    }

    /// Turns on IPv4 and IPv6 forwarding (a router).
    pub fn forwarding(&self) -> io::Result<()> {
        self.sysctl("net.ipv4.ip_forward", "1")?;
        self.sysctl("net.ipv6.conf.all.forwarding", "1")
    }

    /// Enters this namespace on the calling thread. Only for threads made
    /// for it ([`Netns::run`], [`Netns::spawn_thread`]).
    fn enter(&self) -> io::Result<()> {
        netsys::netns::enter_net(&self.file)
    }

    /// Runs `f` on a new thread inside the namespace and returns its result.
    pub fn run<F, R>(&self, f: F) -> io::Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// Starts `f` on a new thread inside the namespace.
    pub fn spawn_thread<F, R>(&self, f: F) -> io::Result<std::thread::JoinHandle<io::Result<R>>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let file = self.file.try_clone()?;
        Ok(std::thread::spawn(move || {
            netsys::netns::enter_net(&file)?;
            Ok(f())
        }))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair: `a_if` in `a`, `b_if` in `b`,
/// both up. Interface names are per namespace, so they may repeat across
/// labs.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> io::Result<()> {
    a.ip(&[
        "link",
        "add",
        a_if,
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    a.ip(&["link", "set", a_if, "up"])?;
    b.ip(&["link", "set", b_if, "up"])?;
    Ok(())
}

/// A client and a server namespace, joined directly or through a router.
///
/// Direct: client `10.1.0.1/24` (and `10.1.0.3`, a second address) on
/// `eth0`, server `10.1.0.2/24` on `eth0`.
/// Routed: client `10.1.0.1/24` - router `10.1.0.254` | `10.2.0.254` -
/// server `10.2.0.2/24`.
pub struct Lab {
    pub client: Netns,
    pub router: Option<Netns>,
    pub server: Netns,
    pub server_addr: std::net::Ipv4Addr,
    pub client_addr: std::net::Ipv4Addr,
    pub client_addr2: std::net::Ipv4Addr,
    /// IPv6 addresses: client `fd00:1::1`, server `fd00:1::2` (direct) or
    /// `fd00:2::2` (routed).
    pub server_addr6: std::net::Ipv6Addr,
    pub client_addr6: std::net::Ipv6Addr,
}

impl Lab {
    /// Client and server joined by one veth pair.
    pub fn direct(tag: &str) -> io::Result<Self> {
        let client = Netns::new(&format!("{tag}c"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth(&client, "eth0", &server, "eth0")?;
        client.addr("eth0", "10.1.0.1/24")?;
        client.addr("eth0", "10.1.0.3/24")?;
        server.addr("eth0", "10.1.0.2/24")?;
        client.addr("eth0", "fd00:1::1/64")?;
        server.addr("eth0", "fd00:1::2/64")?;
        Ok(Lab {
            client,
            router: None,
            server,
            server_addr: [10, 1, 0, 2].into(),
            client_addr: [10, 1, 0, 1].into(),
            client_addr2: [10, 1, 0, 3].into(),
            server_addr6: "fd00:1::2".parse().map_err(io::Error::other)?,
            client_addr6: "fd00:1::1".parse().map_err(io::Error::other)?,
        })
    }

    /// Client - router - server.
    pub fn routed(tag: &str) -> io::Result<Self> {
        let client = Netns::new(&format!("{tag}c"))?;
        let router = Netns::new(&format!("{tag}r"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth(&client, "eth0", &router, "eth0")?;
        veth(&router, "eth1", &server, "eth0")?;
        client.addr("eth0", "10.1.0.1/24")?;
        client.addr("eth0", "10.1.0.3/24")?;
        router.addr("eth0", "10.1.0.254/24")?;
        router.addr("eth1", "10.2.0.254/24")?;
        server.addr("eth0", "10.2.0.2/24")?;
        client.addr("eth0", "fd00:1::1/64")?;
        router.addr("eth0", "fd00:1::fe/64")?;
        router.addr("eth1", "fd00:2::fe/64")?;
        server.addr("eth0", "fd00:2::2/64")?;
        router.forwarding()?;
        client.route("default", "10.1.0.254")?;
        server.route("default", "10.2.0.254")?;
        client.route("default", "fd00:1::fe")?;
        server.route("default", "fd00:2::fe")?;
        Ok(Lab {
            client,
            router: Some(router),
            server,
            server_addr: [10, 2, 0, 2].into(),
            client_addr: [10, 1, 0, 1].into(),
            client_addr2: [10, 1, 0, 3].into(),
            server_addr6: "fd00:2::2".parse().map_err(io::Error::other)?,
            client_addr6: "fd00:1::1".parse().map_err(io::Error::other)?,
        })
    }
}

/// Client - router 1 - router 2 - server, for per-hop traces (IPv4 and
/// IPv6 on every link):
///
/// client `10.1.0.1` / `fd00:1::1` - r1 `10.1.0.254` `fd00:1::fe` |
/// `10.5.0.1` `fd00:5::1` - r2 `10.5.0.2` `fd00:5::2` | `10.2.0.254`
/// `fd00:2::fe` - server `10.2.0.2` / `fd00:2::2`.
pub struct Chain {
    pub client: Netns,
    pub r1: Netns,
    pub r2: Netns,
    pub server: Netns,
    pub server_addr: std::net::Ipv4Addr,
    pub server_addr6: std::net::Ipv6Addr,
    pub client_addr: std::net::Ipv4Addr,
    pub client_addr6: std::net::Ipv6Addr,
    /// Router addresses facing the client (what their ICMP errors come from).
    pub r1_addr: std::net::Ipv4Addr,
    pub r2_addr: std::net::Ipv4Addr,
    pub r1_addr6: std::net::Ipv6Addr,
    pub r2_addr6: std::net::Ipv6Addr,
}

impl Chain {
    pub fn new(tag: &str) -> io::Result<Self> {
        let client = Netns::new(&format!("{tag}c"))?;
        let r1 = Netns::new(&format!("{tag}r1"))?;
        let r2 = Netns::new(&format!("{tag}r2"))?;
        let server = Netns::new(&format!("{tag}s"))?;
        veth(&client, "eth0", &r1, "eth0")?;
        veth(&r1, "eth1", &r2, "eth0")?;
        veth(&r2, "eth1", &server, "eth0")?;
        client.addr("eth0", "10.1.0.1/24")?;
        client.addr("eth0", "fd00:1::1/64")?;
        r1.addr("eth0", "10.1.0.254/24")?;
        r1.addr("eth0", "fd00:1::fe/64")?;
        r1.addr("eth1", "10.5.0.1/24")?;
        r1.addr("eth1", "fd00:5::1/64")?;
        r2.addr("eth0", "10.5.0.2/24")?;
        r2.addr("eth0", "fd00:5::2/64")?;
        r2.addr("eth1", "10.2.0.254/24")?;
        r2.addr("eth1", "fd00:2::fe/64")?;
        server.addr("eth0", "10.2.0.2/24")?;
        server.addr("eth0", "fd00:2::2/64")?;
        r1.forwarding()?;
        r2.forwarding()?;
        client.route("default", "10.1.0.254")?;
        client.route("default", "fd00:1::fe")?;
        r1.route("default", "10.5.0.2")?;
        r1.route("default", "fd00:5::2")?;
        r2.route("10.1.0.0/24", "10.5.0.1")?;
        r2.route("fd00:1::/64", "fd00:5::1")?;
        server.route("default", "10.2.0.254")?;
        server.route("default", "fd00:2::fe")?;
        let v6 = |s: &str| s.parse::<std::net::Ipv6Addr>().map_err(io::Error::other);
        Ok(Chain {
            client,
            r1,
            r2,
            server,
            server_addr: [10, 2, 0, 2].into(),
            server_addr6: v6("fd00:2::2")?,
            client_addr: [10, 1, 0, 1].into(),
            client_addr6: v6("fd00:1::1")?,
            r1_addr: [10, 1, 0, 254].into(),
            r2_addr: [10, 5, 0, 2].into(),
            r1_addr6: v6("fd00:1::fe")?,
            r2_addr6: v6("fd00:5::2")?,
        })
    }
}
