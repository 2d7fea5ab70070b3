//! The prose of the man page mptcp-probe(1): what clap cannot know (what
//! the tool is for, exit codes, the verdicts and their fixes, examples,
//! files). [`crate::generate`] puts it around clap's option lists.
use packet::verdict::VerdictCode;
use roff::{bold, italic, roman, Roff};

fn para(r: &mut Roff, text: &str) {
    r.control("PP", []).text([roman(text)]);
}

fn item(r: &mut Roff, term: &str, text: &str) {
    r.control("TP", []).text([bold(term)]).text([roman(text)]);
}

fn example(r: &mut Roff, what: &str, commands: &[&str]) {
    para(r, what);
    r.control("RS", ["4"]).control("nf", []);
    for c in commands {
        r.text([roman(*c)]);
    }
    r.control("fi", []).control("RE", []);
}

/// What to do about each verdict. Exhaustive on purpose: a new verdict
/// code does not compile until the man page explains it.
pub fn verdict_fix(code: VerdictCode) -> &'static str {
    match code {
        VerdictCode::MptcpOk => "Nothing to fix.",
        VerdictCode::StrippedUpstream => {
            "A middlebox (often the ISP's CPE or a carrier-grade NAT) removes TCP option 30 \
             on the way to the server. trace names the hop range. Try another destination \
             port, ask the ISP, or carry this link's traffic in a tunnel (UDP, WireGuard)."
        }
        VerdictCode::StrippedDownstream => {
            "The same on the way back: the server sent MP_CAPABLE, the SYN/ACK arrived \
             without it. Another port, the ISP, or a tunnel."
        }
        VerdictCode::OptionModified => {
            "A middlebox normalises TCP options it does not understand. Another port, or a \
             tunnel."
        }
        VerdictCode::SynDropped => {
            "A middlebox (often the ISP's CPE or a firewall) drops SYNs carrying option 30. \
             Another port, the ISP, or a tunnel."
        }
        VerdictCode::EchoingMiddlebox => {
            "A box on the path (a transparent proxy) answers handshakes itself; MPTCP cannot \
             work through it. Another port, or a tunnel."
        }
        VerdictCode::VersionMismatch => {
            "One side runs an out-of-tree 5.4 -mptcp kernel speaking MPTCP v0, the other an \
             upstream kernel speaking only v1. On the v0 side: sysctl -w \
             net.mptcp.mptcp_version=1, or move to an upstream kernel (5.6+)."
        }
        VerdictCode::ServerMptcpDisabled => {
            "On the server: sysctl -w net.mptcp.enabled=1, and serve the port with an MPTCP \
             listener (mptcpize run SERVER, or the application's MPTCP socket)."
        }
        VerdictCode::LocalMptcpDisabled => {
            "On this host: sysctl -w net.mptcp.enabled=1 (upstream kernels), or \
             net.mptcp.mptcp_enabled=1 (out-of-tree -mptcp kernels); mptcp-probe doctor \
             says what else is missing."
        }
        VerdictCode::Unreachable => {
            "Check the address and port, that mptcp-probe-server (or the service) listens \
             there, and the firewalls on the way."
        }
        VerdictCode::Inconclusive => {
            "The missing lines say which evidence is lacking: run with CAP_NET_RAW (crafted \
             probes), run mptcp-probe-server on the far end, or trace the path."
        }
    }
}

/// DESCRIPTION.
pub fn description() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["DESCRIPTION"]);
    r.text([
        bold("mptcp-probe"),
        roman(
            " answers: does Multipath TCP survive this path, and if not, why and where? \
             When link aggregation (OpenMPTCProuter and similar: a router at home, a VPS \
             in a data centre) silently falls back to plain TCP, the usual tools show one \
             line, -TCPOptionMPTCPCapable. That line has at least four causes with \
             different fixes: a middlebox stripped or rewrote the MP_CAPABLE option; the \
             server's kernel does not do MPTCP; an MPTCP v0 router (out-of-tree 5.4 \
             kernels) talks to an upstream v1-only server; or a middlebox reflects options \
             with no MPTCP behind it.",
        ),
    ]);
    para(
        &mut r,
        "mptcp-probe sends the SYNs it needs (MP_CAPABLE v1, v0, and a plain SYN as a \
         control), asks mptcp-probe-server(8) on the far end what actually arrived and \
         what its kernel answered, reads the ICMP quotes of every hop, and turns the \
         evidence into one verdict (see VERDICTS) with a fix.",
    );
    para(
        &mut r,
        "check tells whether MPTCP works to a host; trace finds the hop where the option \
         disappears; doctor reads this host's MPTCP readiness; analyze decodes a pcap or \
         pcapng capture. Crafted probes and trace need CAP_NET_RAW (root, or setcap \
         cap_net_raw+ep on the binary); the raw sockets are opened first and every \
         capability is dropped right after. Without it, check still judges from a \
         connection made by this host's kernel, and says so.",
    );
    r
}

/// EXIT STATUS, VERDICTS, EXAMPLES, ENVIRONMENT, FILES, SEE ALSO.
pub fn reference() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["EXIT STATUS"]);
    item(
        &mut r,
        "0",
        "MPTCP works (check, trace: on every interface; analyze: every handshake is \
         mptcp_ok; doctor: MPTCP is usable on this host).",
    );
    item(
        &mut r,
        "1",
        "MPTCP does not work (any verdict but mptcp_ok on at least one interface or \
         handshake; doctor: a problem stops MPTCP here).",
    );
    item(
        &mut r,
        "2",
        "Error: bad arguments, a name that does not resolve, an unusable interface or \
         source address, trace without CAP_NET_RAW, an unreadable capture, an echo \
         server that broke the echo protocol (its answer cut off, endless, malformed or \
         not the one asked for, or a report that does not hold together).",
    );

    r.control("SH", ["VERDICTS"]);
    para(
        &mut r,
        "Each verdict carries a one-line summary, its evidence, a fix where there is one, \
         and what is missing. The codes (JSON field verdict):",
    );
    for code in VerdictCode::ALL {
        r.control("TP", [])
            .text([bold(code.as_str())])
            .text([roman(format!("{}.", capitalised(code.meaning())))])
            .control("br", [])
            .text([italic("Fix:"), roman(" "), roman(verdict_fix(code))]);
    }

    r.control("SH", ["EXAMPLES"]);
    example(
        &mut r,
        "From the router, against the VPS where mptcp-probe-server runs (port 6101):",
        &["mptcp-probe check vps.example"],
    );
    example(
        &mut r,
        "One verdict per WAN link, as JSON lines; or the one line OpenMPTCProuter's \
         status page shows:",
        &[
            "mptcp-probe check vps.example -i wan1 -i wan2 --json",
            "mptcp-probe check vps.example -i wan1 --format omr-status",
        ],
    );
    example(
        &mut r,
        "Where on the path does MP_CAPABLE vanish (tracebox's line format), and does an \
         out-of-tree v0 router get through to an upstream VPS:",
        &[
            "mptcp-probe trace vps.example -i wan1 --format tracebox",
            "mptcp-probe check vps.example --mptcp-version 0",
        ],
    );
    example(
        &mut r,
        "Let a normal user send the crafted probes, then check this host itself:",
        &[
            "setcap cap_net_raw+ep $(command -v mptcp-probe)",
            "mptcp-probe doctor",
        ],
    );
    example(
        &mut r,
        "Record the handshakes of an application on the VPS and decode them:",
        &[
            "tcpdump -i eth0 -w syn.pcap 'tcp[tcpflags] & tcp-syn != 0'",
            "mptcp-probe analyze syn.pcap",
        ],
    );
    example(
        &mut r,
        "Run the server on the VPS (Debian package, or by hand as root):",
        &[
            "apt install ./mptcp-probe-server_*.deb",
            "mptcp-probe-server --port 6101 --watch 65500",
        ],
    );
    example(
        &mut r,
        "Install completions and the man pages:",
        &[
            "mptcp-probe completions bash > /usr/share/bash-completion/completions/mptcp-probe",
            "mptcp-probe manpage --dir /usr/share/man/man1",
        ],
    );

    r.control("SH", ["ENVIRONMENT"]);
    item(
        &mut r,
        "MPTCP_PROBE_JSON",
        "1/0, true/false, yes/no, on/off: as --json.",
    );
    item(
        &mut r,
        "MPTCP_PROBE_INTERFACE",
        "Comma-separated interfaces: as -i.",
    );
    item(&mut r, "MPTCP_PROBE_SOURCE", "As --source.");
    item(&mut r, "MPTCP_PROBE_TIMEOUT", "As --timeout.");

    r.control("SH", ["FILES"]);
    item(
        &mut r,
        "/proc/sys/net/mptcp/",
        "This host's MPTCP sysctls: whether MPTCP is enabled, and the version an \
         out-of-tree kernel speaks (the default of --mptcp-version).",
    );
    item(
        &mut r,
        "/proc/net/netstat",
        "The kernel's MPTcpExt counters (doctor).",
    );
    item(
        &mut r,
        "/proc/config.gz, /boot/config-RELEASE",
        "The running kernel's configuration (doctor).",
    );
    item(
        &mut r,
        "/usr/libexec/mptcp-probe/",
        "On OpenWrt: the OpenMPTCProuter hooks omr-status (the status page's line) and \
         tracebox (the MPTCP Support Check page), configured in /etc/config/mptcp-probe.",
    );

    r.control("SH", ["SEE ALSO"]);
    let mut refs: Vec<roff::Inline> = Vec::new();
    let pages = [
        ("mptcp-probe-check", "1"),
        ("mptcp-probe-trace", "1"),
        ("mptcp-probe-doctor", "1"),
        ("mptcp-probe-analyze", "1"),
        ("mptcp-probe-server", "8"),
        ("tracebox", "1"),
        ("ip-mptcp", "8"),
        ("mptcpize", "8"),
        ("tcpdump", "8"),
    ];
    for (i, (page, section)) in pages.iter().enumerate() {
        let sep = if i + 1 == pages.len() { "" } else { ", " };
        refs.push(bold(*page));
        refs.push(roman(format!("({section}){sep}")));
    }
    r.text(refs);
    r
}

/// SEE ALSO of a verb's own page.
pub fn verb_see_also() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["SEE ALSO"]).text([
        bold("mptcp-probe"),
        roman("(1) (exit status, verdicts and their fixes, examples), "),
        bold("mptcp-probe-server"),
        roman("(8)"),
    ]);
    r
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_is_explained_with_a_fix() {
        let text = reference().render();
        for code in VerdictCode::ALL {
            let name = code.as_str();
            assert!(text.contains(&format!("\\fB{name}\\fR")), "{name}");
            assert!(!verdict_fix(code).is_empty());
        }
    }

    #[test]
    fn capitalises_the_first_letter() {
        assert_eq!(capitalised("a middlebox"), "A middlebox");
        assert_eq!(capitalised(""), "");
    }
}
