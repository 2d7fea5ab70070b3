//! The pure evaluation: [`DoctorFacts`] in, findings out. No I/O here, so
//! every case is a unit test with fixture facts.
use super::counters::counter_findings;
use super::facts::{DoctorFacts, Role, SocketTry};
use super::finding::{Finding, Group, Status};
use host::kconfig::Setting;
use packet::echo::{Flavor, PmEndpoint};

/// Persisting a sysctl across reboots, appended to sysctl fixes.
const PERSIST: &str =
    "(to keep it after a reboot: put the same `key=value` line in /etc/sysctl.d/90-mptcp.conf)";

/// Every finding, in output order.
pub fn evaluate(facts: &DoctorFacts) -> Vec<Finding> {
    let mut findings = vec![sysctl(facts), kernel(facts)];
    findings.extend(sockets(facts));
    findings.extend(path_manager(facts));
    findings.extend(counter_findings(facts));
    findings
}

/// Whether MPTCP can be used: no finding is a problem.
pub fn usable(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.status != Status::Problem)
}

fn sysctl_value<'a>(facts: &'a DoctorFacts, name: &str) -> Option<&'a str> {
    facts.readiness.sysctls.get(name).map(String::as_str)
}

fn sysctl(facts: &DoctorFacts) -> Finding {
    let r = &facts.readiness;
    match r.flavor {
        Flavor::Upstream => match r.mptcp_enabled {
            Some(false) => Finding::new(
                "sysctl",
                Group::Kernel,
                Status::Problem,
                "net.mptcp.enabled = 0: MPTCP is switched off; every MPTCP socket is refused and applications fall back to plain TCP".into(),
            )
            .fix(format!("sysctl -w net.mptcp.enabled=1 {PERSIST}")),
            _ => Finding::new(
                "sysctl",
                Group::Kernel,
                Status::Ok,
                "net.mptcp.enabled = 1: upstream MPTCP (kernel 5.6+), speaks MPTCP v1 (RFC 8684)".into(),
            ),
        },
        Flavor::OutOfTree => {
            let version = sysctl_value(facts, "mptcp_version").unwrap_or("?");
            let enabled = sysctl_value(facts, "mptcp_enabled").unwrap_or("?");
            if r.mptcp_enabled == Some(false) {
                return Finding::new(
                    "sysctl",
                    Group::Kernel,
                    Status::Problem,
                    format!("net.mptcp.mptcp_enabled = {enabled}: the out-of-tree (multipath-tcp.org) MPTCP is switched off"),
                )
                .fix(format!("sysctl -w net.mptcp.mptcp_enabled=1 {PERSIST}"));
            }
            if r.versions.contains(&1) {
                Finding::new(
                    "sysctl",
                    Group::Kernel,
                    Status::Ok,
                    format!("out-of-tree (multipath-tcp.org) MPTCP kernel: net.mptcp.mptcp_enabled = {enabled}, net.mptcp.mptcp_version = {version}: proposes MPTCP v1 (RFC 8684), which upstream VPS kernels speak"),
                )
            } else {
                Finding::new(
                    "sysctl",
                    Group::Kernel,
                    Status::Warn,
                    format!("out-of-tree (multipath-tcp.org) MPTCP kernel: net.mptcp.mptcp_enabled = {enabled}, net.mptcp.mptcp_version = {version}: speaks MPTCP v0 (RFC 6824) only; upstream kernels (5.6+, e.g. any current VPS) speak only v1 and ignore a v0 MP_CAPABLE, so connections to them fall back to plain TCP"),
                )
                .fix(format!("aggregate to a VPS running the same out-of-tree v0 kernel, or (out-of-tree 0.96+) sysctl -w net.mptcp.mptcp_version=1 {PERSIST}"))
            }
        }
        _ => Finding::new(
            "sysctl",
            Group::Kernel,
            Status::Problem,
            "no net.mptcp sysctls: this kernel has no MPTCP".into(),
        )
        .fix("boot a kernel with MPTCP: upstream 5.6 or newer built with CONFIG_MPTCP=y (most distribution kernels are)"),
    }
}

fn kernel(facts: &DoctorFacts) -> Finding {
    let release = facts
        .kernel_release
        .as_deref()
        .unwrap_or("(release unknown)");
    match &facts.kconfig {
        Err(e) => Finding::new(
            "kernel_config",
            Group::Kernel,
            Status::Unknown,
            format!("kernel {release}: its config exists but could not be read: {e}"),
        ),
        Ok(None) => Finding::new(
            "kernel_config",
            Group::Kernel,
            Status::Unknown,
            format!("kernel {release}: neither /proc/config.gz nor /boot/config-{release} exists, so CONFIG_MPTCP cannot be read (the socket test below is the real test)"),
        )
        .fix("`modprobe configs` provides /proc/config.gz on kernels built with CONFIG_IKCONFIG_PROC"),
        Ok(Some(c)) => {
            let show = |s: &Option<Setting>| s.as_ref().map_or("absent", Setting::as_str).to_string();
            let text = format!(
                "kernel {release}: CONFIG_MPTCP={}, CONFIG_MPTCP_IPV6={} (from {})",
                show(&c.mptcp),
                show(&c.mptcp_ipv6),
                c.source
            );
            if !c.mptcp.as_ref().is_some_and(Setting::is_on) {
                Finding::new("kernel_config", Group::Kernel, Status::Problem, format!("{text}: this kernel was built without MPTCP"))
                    .fix("boot a kernel built with CONFIG_MPTCP=y (upstream 5.6 or newer)")
            } else if !c.mptcp_ipv6.as_ref().is_some_and(Setting::is_on) {
                Finding::new("kernel_config", Group::Kernel, Status::Warn, format!("{text}: MPTCP works over IPv4 only"))
                    .fix("for MPTCP over IPv6, a kernel built with CONFIG_MPTCP_IPV6=y")
            } else {
                Finding::new("kernel_config", Group::Kernel, Status::Ok, format!("{text}: built with MPTCP for IPv4 and IPv6"))
            }
        }
    }
}

fn sockets(facts: &DoctorFacts) -> Vec<Finding> {
    let out_of_tree = facts.readiness.flavor == Flavor::OutOfTree;
    let mut findings = Vec::new();
    for (check, family, outcome) in [
        ("socket_ipv4", "IPv4", &facts.socket_v4),
        ("socket_ipv6", "IPv6", &facts.socket_v6),
    ] {
        let finding = match outcome {
            SocketTry::NotTried => continue,
            SocketTry::Opened => Finding::new(
                check,
                Group::Socket,
                Status::Ok,
                format!("an {family} MPTCP socket (IPPROTO_MPTCP) opens: applications asking for MPTCP get it"),
            ),
            SocketTry::Failed { .. } if out_of_tree => Finding::new(
                check,
                Group::Socket,
                Status::Ok,
                format!("no IPPROTO_MPTCP {family} sockets, as expected on an out-of-tree kernel: it turns plain TCP sockets into MPTCP itself"),
            ),
            SocketTry::Failed { errno, message } => socket_failure(check, family, *errno, message, facts),
        };
        findings.push(finding);
    }
    findings
}

fn socket_failure(
    check: &'static str,
    family: &str,
    errno: Option<i32>,
    message: &str,
    facts: &DoctorFacts,
) -> Finding {
    // IPv4 failing stops MPTCP; IPv6 alone failing limits it.
    let status = if family == "IPv4" {
        Status::Problem
    } else {
        Status::Warn
    };
    let base = format!("an {family} MPTCP socket cannot be opened: {message}");
    match errno {
        Some(libc::ENOPROTOOPT) if facts.readiness.mptcp_enabled == Some(false) => Finding::new(
            check,
            Group::Socket,
            status,
            format!("{base} (because net.mptcp.enabled = 0)"),
        )
        .fix(format!("sysctl -w net.mptcp.enabled=1 {PERSIST}")),
        Some(libc::EPROTONOSUPPORT) | Some(libc::EINVAL) => Finding::new(
            check,
            Group::Socket,
            status,
            format!("{base}: this kernel has no MPTCP for {family}"),
        )
        .fix(if family == "IPv4" {
            "boot a kernel built with CONFIG_MPTCP=y (upstream 5.6 or newer)"
        } else {
            "a kernel built with CONFIG_MPTCP_IPV6=y"
        }),
        Some(libc::EAFNOSUPPORT) => Finding::new(
            check,
            Group::Socket,
            status,
            format!("{base}: {family} itself is unavailable on this host"),
        ),
        _ => Finding::new(check, Group::Socket, status, base),
    }
}

/// An endpoint as `ip mptcp endpoint show` prints it.
pub fn endpoint_line(ep: &PmEndpoint, facts: &DoctorFacts) -> String {
    let mut parts = Vec::new();
    if let Some(addr) = &ep.addr {
        parts.push(addr.clone());
    }
    // `ip` omits port 0 (no port given).
    if let Some(port) = ep.port.filter(|&p| p != 0) {
        parts.push(format!("port {port}"));
    }
    if let Some(id) = ep.id {
        parts.push(format!("id {id}"));
    }
    parts.extend(ep.flags.iter().cloned());
    if let Some(index) = ep.ifindex.filter(|&i| i > 0) {
        match facts.ifnames.get(&index) {
            Some(name) => parts.push(format!("dev {name}")),
            None => parts.push(format!("dev #{index}")),
        }
    }
    parts.join(" ")
}

fn path_manager(facts: &DoctorFacts) -> Vec<Finding> {
    let r = &facts.readiness;
    if r.flavor == Flavor::OutOfTree {
        return out_of_tree_path_manager(facts).into_iter().collect();
    }
    if r.flavor != Flavor::Upstream {
        return Vec::new();
    }
    let mut findings = Vec::new();
    // `path_manager` (6.15+) names it; older kernels have `pm_type` 0/1.
    let pm = sysctl_value(facts, "path_manager")
        .map(str::to_string)
        .or_else(|| {
            sysctl_value(facts, "pm_type").map(|t| match t {
                "0" => "kernel".to_string(),
                "1" => "userspace".to_string(),
                other => format!("type {other}"),
            })
        });
    let scheduler = sysctl_value(facts, "scheduler");
    let userspace = pm.as_deref() == Some("userspace");
    let sched = scheduler.map_or(String::new(), |s| format!(", packet scheduler `{s}`"));
    let pm_finding = match pm.as_deref() {
        Some("userspace") => Finding::new(
            "path_manager",
            Group::PathManager,
            Status::Ok,
            format!("userspace path manager{sched}: a daemon (e.g. mptcpd) decides which subflows to open; the in-kernel limits and endpoints below do not apply"),
        ),
        Some(name) => Finding::new(
            "path_manager",
            Group::PathManager,
            Status::Ok,
            format!("in-kernel path manager (`{name}`){sched}: subflows follow the limits and endpoints below"),
        ),
        None => Finding::new(
            "path_manager",
            Group::PathManager,
            Status::Unknown,
            format!("path manager type unknown (neither net.mptcp.path_manager nor net.mptcp.pm_type){sched}"),
        ),
    };
    findings.push(pm_finding);
    if userspace {
        return findings;
    }
    let pm_errors: Vec<String> = r
        .errors
        .iter()
        .filter(|e| e.starts_with("mptcp_pm"))
        .cloned()
        .collect();
    let subflow_eps = r
        .endpoints
        .iter()
        .filter(|e| e.flags.iter().any(|f| f == "subflow"))
        .count();
    match r.limits {
        None => findings.push(Finding::new(
            "limits",
            Group::PathManager,
            Status::Unknown,
            format!(
                "path-manager limits could not be read over netlink: {}",
                pm_errors.join("; ")
            ),
        )),
        Some(l) => {
            let show = |v: Option<u32>| v.map_or("?".to_string(), |v| v.to_string());
            let line = format!(
                "limits: add_addr_accepted {} subflows {}",
                show(l.add_addr_accepted),
                show(l.subflows)
            );
            let mut notes = Vec::new();
            let mut status = Status::Ok;
            let mut fixes = Vec::new();
            match l.subflows {
                Some(0) => {
                    status = Status::Warn;
                    notes.push("subflows 0: no extra subflow is ever opened or accepted, every MPTCP connection uses one path only".to_string());
                    fixes.push("ip mptcp limits set subflows N add_addr_accepted N (N = extra paths, e.g. WAN links - 1; at most 8)".to_string());
                }
                Some(n) => {
                    notes.push(format!(
                        "subflows {n}: up to {n} extra subflows per connection"
                    ));
                    if subflow_eps > n as usize {
                        status = Status::Warn;
                        notes.push(format!("{subflow_eps} subflow endpoints but a limit of {n}: only {n} of them are used"));
                        fixes.push(format!(
                            "ip mptcp limits set subflows {subflow_eps} add_addr_accepted {}",
                            l.add_addr_accepted.unwrap_or(0).max(subflow_eps as u32)
                        ));
                    }
                }
                None => {}
            }
            match l.add_addr_accepted {
                Some(0) => notes.push("add_addr_accepted 0: addresses the peer announces (ADD_ADDR) are ignored; fine for a router that opens its subflows from its own WAN endpoints to one VPS address, not when the VPS announces extra addresses".to_string()),
                Some(n) => notes.push(format!("add_addr_accepted {n}: up to {n} addresses announced by the peer are used")),
                None => {}
            }
            let mut f = Finding::new(
                "limits",
                Group::PathManager,
                status,
                format!("{line}: {}", notes.join("; ")),
            );
            if !fixes.is_empty() {
                f = f.fix(fixes.join("; "));
            }
            findings.push(f);
        }
    }
    if r.limits.is_some() || pm_errors.is_empty() {
        findings.push(endpoints(facts, subflow_eps));
    }
    findings
}

/// The out-of-tree kernel picks its path manager by name
/// (`net.mptcp.mptcp_path_manager`); it has no endpoints or limits.
fn out_of_tree_path_manager(facts: &DoctorFacts) -> Option<Finding> {
    let pm = sysctl_value(facts, "mptcp_path_manager")?;
    let sched = sysctl_value(facts, "mptcp_scheduler")
        .map_or(String::new(), |s| format!(", scheduler `{s}`"));
    let (status, meaning) = match pm {
        "fullmesh" => (
            Status::Ok,
            "a subflow between every pair of local and remote addresses",
        ),
        "ndiffports" => (
            Status::Ok,
            "several subflows over the same pair of addresses (different ports)",
        ),
        "binder" => (
            Status::Ok,
            "subflows through the configured gateways (loose source routing)",
        ),
        "netlink" => (Status::Ok, "a userspace daemon decides the subflows"),
        "default" => (
            Status::Warn,
            "no extra subflows: every connection uses one path only",
        ),
        _ => (
            Status::Ok,
            "see the kernel's documentation for this path manager",
        ),
    };
    let f = Finding::new(
        "path_manager",
        Group::PathManager,
        status,
        format!("out-of-tree path manager `{pm}` (net.mptcp.mptcp_path_manager){sched}: {meaning}"),
    );
    Some(if status == Status::Warn {
        f.fix(format!(
            "sysctl -w net.mptcp.mptcp_path_manager=fullmesh {PERSIST}"
        ))
    } else {
        f
    })
}

fn endpoints(facts: &DoctorFacts, subflow_eps: usize) -> Finding {
    let eps = &facts.readiness.endpoints;
    let details: Vec<String> = eps
        .iter()
        .map(|e| format!("{}: {}", endpoint_line(e, facts), endpoint_meaning(e)))
        .collect();
    let signal = eps
        .iter()
        .filter(|e| e.flags.iter().any(|f| f == "signal"))
        .count();
    let (role, why) = facts.role.resolve(eps);
    let what = if eps.is_empty() {
        "no endpoints".to_string()
    } else {
        format!("{} endpoints, none flagged `subflow`", eps.len())
    };
    if role == Role::Server {
        // A server accepts the subflows its clients open: it needs no
        // `subflow` endpoint of its own.
        let announce = if signal > 0 {
            format!("; {signal} `signal` endpoints announce this host's extra addresses to clients")
        } else {
            "; a `signal` endpoint is only needed to announce extra addresses of this host".into()
        };
        let message = if subflow_eps == 0 {
            format!("{what}: as a server (role from {why}) this host needs none: clients open the extra subflows to it{announce}")
        } else {
            format!("{} endpoints, {subflow_eps} flagged `subflow`: as a server (role from {why}) this host also opens subflows from them on its own outgoing connections{announce}", eps.len())
        };
        return Finding::new("endpoints", Group::PathManager, Status::Ok, message).details(details);
    }
    if subflow_eps == 0 {
        let server = if signal > 0 {
            " (the `signal` ones are announced to peers: what a server needs)"
        } else {
            ""
        };
        Finding::new(
            "endpoints",
            Group::PathManager,
            Status::Warn,
            format!("{what}{server}: as a client this host opens no extra subflow, so its MPTCP connections use one path only (no aggregation); on a server (the VPS) that is fine: `mptcp-probe doctor --role server`"),
        )
        .details(details)
        .fix("on a router, one per extra WAN address: ip mptcp endpoint add ADDR dev IFACE subflow (a VPS that should announce extra addresses: ... signal)")
    } else {
        Finding::new(
            "endpoints",
            Group::PathManager,
            Status::Ok,
            format!("{} endpoints, {subflow_eps} flagged `subflow`: outgoing MPTCP connections add a subflow from each of them", eps.len()),
        )
        .details(details)
    }
}

/// What one endpoint's flags make the kernel do.
fn endpoint_meaning(ep: &PmEndpoint) -> String {
    let mut parts = Vec::new();
    for flag in &ep.flags {
        parts.push(match flag.as_str() {
            "signal" => "announced to peers with ADD_ADDR (server side)",
            "subflow" => "extra subflows are opened from it (client side)",
            "backup" => "its subflows are backups, used only when the others fail",
            "fullmesh" => "a subflow from it to every address the peer announced",
            "implicit" => "created by the kernel for a subflow the peer opened",
            "laminar" => "a `laminar` endpoint (see ip-mptcp(8))",
            _ => continue,
        });
    }
    if parts.is_empty() {
        parts.push("no flags: kept for its id, used neither to announce nor to connect");
    }
    parts.join("; ")
}
