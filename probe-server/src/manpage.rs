//! The man page mptcp-probe-server(8): the options come from the clap
//! definition (so they never drift), the prose around them from here.
//! `mptcp-probe-server --manpage` prints it; the Debian package ships the
//! copy in `probe-server/man/`, which a test keeps identical to this.
use crate::cli::Args;
use clap::CommandFactory;
use clap_mangen::Man;
use roff::{bold, italic, roman, Roff};
use std::io;

/// Man section 8: a daemon run by the administrator.
pub const SECTION: &str = "8";

/// The whole page in roff.
pub fn render() -> io::Result<String> {
    let man = Man::new(Args::command()).section(SECTION);
    // The apostrophe definitions once, then every part without its copy.
    let mut page = Roff::new().render();
    page.push_str(&clap_part(|w| man.render_title(w))?);
    page.push_str(&clap_part(|w| man.render_name_section(w))?);
    page.push_str(&clap_part(|w| man.render_synopsis_section(w))?);
    page.push_str(&without_preamble(description().render()));
    page.push_str(&clap_part(|w| man.render_options_section(w))?);
    page.push_str(&without_preamble(rest().render()));
    page.push_str(&clap_part(|w| man.render_version_section(w))?);
    Ok(page)
}

/// One section rendered by clap_mangen.
fn clap_part(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    let mut out = Vec::new();
    f(&mut out)?;
    let text = String::from_utf8(out).map_err(io::Error::other)?;
    Ok(without_preamble(text))
}

/// Every roff rendering starts with the same apostrophe definitions (an
/// empty document is nothing else); the page needs them once.
fn without_preamble(text: String) -> String {
    let preamble = Roff::new().render();
    match text.strip_prefix(preamble.as_str()) {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

fn para(roff: &mut Roff, text: &str) {
    roff.control("PP", []).text([roman(text)]);
}

fn item(roff: &mut Roff, term: &str, text: &str) {
    roff.control("TP", [])
        .text([bold(term)])
        .text([roman(text)]);
}

fn example(roff: &mut Roff, what: &str, command: &str) {
    para(roff, what);
    roff.control("RS", ["4"])
        .control("nf", [])
        .text([roman(command)])
        .control("fi", [])
        .control("RE", []);
}

fn description() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["DESCRIPTION"]);
    r.text([
        bold("mptcp-probe-server"),
        roman(
            " is the far end of mptcp-probe: an echo server that tells a client \
             what actually arrived. For every connection to a listen port it reports \
             the SYN exactly as captured (IP and TCP headers, option by option), the \
             SYN/ACK this host's kernel answered, whether the accepted connection is \
             really MPTCP, and this host's MPTCP readiness (sysctls, path manager, \
             version). That account tells a middlebox that removed MP_CAPABLE apart \
             from a server that does not do MPTCP and from a client speaking MPTCP v0 \
             to a v1-only kernel.",
        ),
    ]);
    para(
        &mut r,
        "Clients speak the echo protocol (JSON lines, see the project README); an \
         HTTP GET gets the same report as plain text, so curl shows it too. SYNs to \
         ports given with --watch (the real tunnel or web server) are captured \
         without listening, so a client can test the port its traffic really uses.",
    );
    para(
        &mut r,
        "The capture is an AF_PACKET socket filtered in the kernel, opened with \
         CAP_NET_RAW at startup; then the server switches to --user when started as \
         root and clears every capability. Where the kernel refuses MPTCP sockets \
         (net.mptcp.enabled=0) it listens with TCP and says so in every report.",
    );
    r
}

fn rest() -> Roff {
    let mut r = Roff::new();
    r.control("SH", ["ENVIRONMENT"]);
    para(
        &mut r,
        "Every option can be set by a variable named MPTCP_PROBE_SERVER_ and the \
         option's name in capitals with dashes as underscores (--idle-timeout: \
         MPTCP_PROBE_SERVER_IDLE_TIMEOUT). Repeatable options take a comma-separated \
         list (MPTCP_PROBE_SERVER_WATCH=443,65500); switches take 1/0, true/false, \
         yes/no, on/off. An option on the command line wins over its variable.",
    );
    item(
        &mut r,
        "RUST_LOG",
        "Log level or filter (default info), e.g. RUST_LOG=debug.",
    );

    r.control("SH", ["FILES"]);
    item(
        &mut r,
        "/etc/default/mptcp-probe-server",
        "Variables read by the systemd unit (EnvironmentFile); every line is a \
         commented-out default.",
    );
    item(
        &mut r,
        "/usr/lib/systemd/system/mptcp-probe-server.service",
        "The unit: a dynamic unprivileged user with CAP_NET_RAW only, sandboxed. \
         Override it with systemctl edit mptcp-probe-server.",
    );
    item(
        &mut r,
        "/proc/sys/net/mptcp/",
        "The MPTCP sysctls reported as this host's readiness.",
    );

    r.control("SH", ["EXIT STATUS"]);
    item(&mut r, "0", "Stopped by SIGTERM or SIGINT after serving.");
    item(
        &mut r,
        "1",
        "Could not serve: no port could be listened on, or privileges could not be dropped.",
    );
    item(&mut r, "2", "Bad command line or environment variable.");

    r.control("SH", ["EXAMPLES"]);
    example(
        &mut r,
        "Serve the default port 6101 by hand as root (drops to nobody):",
        "mptcp-probe-server",
    );
    example(
        &mut r,
        "Also observe the SYNs sent to the aggregation tunnel on port 65500, and \
         publish the kernel release:",
        "mptcp-probe-server --watch 65500 --report-kernel",
    );
    example(
        &mut r,
        "The same for the packaged service:",
        "echo 'MPTCP_PROBE_SERVER_WATCH=65500' >> /etc/default/mptcp-probe-server\n\
         systemctl restart mptcp-probe-server",
    );
    example(
        &mut r,
        "See what arrives from a client, with and without MPTCP:",
        "curl http://vps.example:6101/\nmptcpize run curl http://vps.example:6101/",
    );
    example(
        &mut r,
        "Check the path from a router (where mptcp-probe runs):",
        "mptcp-probe check vps.example",
    );

    r.control("SH", ["SEE ALSO"]);
    r.text([
        bold("mptcp-probe"),
        roman("(1), "),
        bold("ip-mptcp"),
        roman("(8), "),
        bold("mptcpize"),
        roman("(8), "),
        bold("systemd.exec"),
        roman("(5); the README in "),
        italic("/usr/share/doc/mptcp-probe-server/"),
        roman(" (raising the capture buffer for floods)."),
    ]);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_has_every_section_once_and_the_options() {
        let page = render().unwrap();
        assert!(
            page.starts_with(&Roff::new().render()),
            "one preamble first"
        );
        assert_eq!(page.matches(".ie \\n(.g").count(), 1, "{page}");
        assert!(page.contains(".TH mptcp-probe-server 8"), "{page}");
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "ENVIRONMENT",
            "FILES",
            "\"EXIT STATUS\"",
            "EXAMPLES",
            "\"SEE ALSO\"",
            "VERSION",
        ] {
            assert_eq!(
                page.matches(&format!(".SH {section}\n")).count(),
                1,
                "{section}: {page}"
            );
        }
        assert!(page.contains("\\-\\-watch"), "{page}");
        assert!(page.contains("MPTCP_PROBE_SERVER_IDLE_TIMEOUT"), "{page}");
        assert!(!page.contains("\\-\\-manpage"), "hidden flag: {page}");
    }

    /// The Debian package ships the committed copy (cargo-deb copies files,
    /// it runs nothing): it must be what the code renders.
    #[test]
    fn committed_page_is_current() {
        let committed = include_str!("../man/mptcp-probe-server.8");
        assert!(
            render().unwrap() == committed,
            "probe-server/man/mptcp-probe-server.8 is stale; regenerate it with\n  \
             cargo run -p probe-server -- --manpage > probe-server/man/mptcp-probe-server.8"
        );
    }
}
