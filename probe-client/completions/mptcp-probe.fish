# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_mptcp_probe_global_optspecs
    string join \n json h/help V/version
end

function __fish_mptcp_probe_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_mptcp_probe_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_mptcp_probe_using_subcommand
    set -l cmd (__fish_mptcp_probe_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -s h -l help -d 'Print help'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "check" -d 'Does MPTCP work end to end to HOST? The main job: an MPTCP connection to the echo server, and with CAP_NET_RAW crafted v1/v0/plain SYNs'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "aggregate" -d 'Does every WAN of this router join the MPTCP connection and carry data? One verdict per WAN, then a summary'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "trace" -d 'Per hop: where on the path does MP_CAPABLE disappear?'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "doctor" -d 'This host\'s MPTCP readiness, with a fix for each problem'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "analyze" -d 'Decode every TCP packet of a pcap/pcapng file and summarise each MPTCP handshake found in it'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "manpage" -d 'Print the man page mptcp-probe(1) in roff (--dir: every page)'
complete -c mptcp-probe -n "__fish_mptcp_probe_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l port -d 'Port to check: the echo server\'s, or with --echo-port the real service\'s (the tunnel\'s, say)' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l echo-port -d 'Port of the echo server when it is not --port: the kernel connection and the crafted probes go to --port, and the echo server on this port (started with `--watch PORT`) says what arrived there' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l mptcp-version -d 'MPTCP version this host (the router) speaks: 0 (out-of-tree -mptcp kernel) or 1 (upstream). Default: read from the local kernel' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l format -d 'Output format (`--json` overrides it)' -r -f -a "text\t'The verdict, its evidence and what the echo server saw'
omr-status\t'One line for OpenMPTCProuter\'s status page: `MPTCP enabled`, `MPTCP disabled`, or nothing when the check cannot tell. Default --timeout 1'"
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -s i -l interface -d 'Send through this interface (SO_BINDTODEVICE). Repeatable: one verdict per interface, to test each WAN link of a router' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l source -d 'Source address to send from' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l timeout -d 'Seconds to wait for answers (one timeout in total, not per probe)' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l write -d 'Write every probe and every answer to this pcap file (for Wireshark)' -r -F
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -s 4 -d 'Use IPv4 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -s 6 -d 'Use IPv6 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand check" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -l port -d 'Port of the echo server' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -s i -l interface -d 'A WAN interface to test (repeatable). Default: every interface with a default route in any routing table, and every `subflow` endpoint\'s device' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -l duration -d 'Seconds of data pushed both ways over the MPTCP connection' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -l timeout -d 'Seconds to wait for the crafted probes\' answers (and each echo exchange)' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -l write -d 'Write every crafted probe, its answers and the connection\'s handshake to this pcap file' -r -F
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -s 4 -d 'Use IPv4 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -s 6 -d 'Use IPv6 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -s h -l help -d 'Print help'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand aggregate" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l port -d 'Destination port' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l echo-port -d 'Port of the echo server when it is not --port (it must `--watch` --port): it is asked what arrived on --port' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s m -l max-ttl -d 'Highest TTL (hop limit) probed' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l format -d 'Output format (`--json` overrides it)' -r -f -a "text\t'One line per hop with what the path changed besides the TTL'
tracebox\t'tracebox\'s own line format (`N: ADDR RTTms IP::TTL ... -TCPOptionMPTCPCapable`)'"
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l mptcp-version -d 'MP_CAPABLE version of the probes: 1 (RFC 8684, upstream kernels) or 0 (RFC 6824, out-of-tree kernels, what tracebox sends). Default: this host\'s kernel\'s version, else 1' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s i -l interface -d 'Send through this interface (SO_BINDTODEVICE). Repeatable: one verdict per interface, to test each WAN link of a router' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l source -d 'Source address to send from' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l timeout -d 'Seconds to wait for answers (one timeout in total, not per probe)' -r
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l write -d 'Write every probe and every answer to this pcap file (for Wireshark)' -r -F
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s 4 -d 'Use IPv4 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s 6 -d 'Use IPv6 only'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand trace" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand doctor" -l role -d 'What this host is: a client (a router that opens subflows over its WAN links) or a server (the VPS that accepts them). Decides the endpoint advice. Default: server when the host has a `signal` endpoint and no `subflow` one, else client' -r -f -a "auto\t'Server when the host has a `signal` endpoint and no `subflow` one, else client'
client\t'A router opening subflows over its WAN links'
server\t'The VPS accepting them (and announcing extra addresses with `signal` endpoints)'"
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand doctor" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand analyze" -l side -d 'Where the capture was made, for the verdict of each handshake: `client` (the SYN as sent), `server` (the SYN as it arrived), `direct` (no router between the ends: both), or `auto` (guessed per handshake from the TTLs)' -r -f -a "client\t'On the host that sent the SYN'
server\t'On the host that answered it'
direct\t'Both ends see the same packets (no router between them): SYN and SYN/ACK both carry an initial TTL'
auto\t'Guess per handshake from the TTLs (the default)'"
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand analyze" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand analyze" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand analyze" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand completions" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand completions" -s h -l help -d 'Print help'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand completions" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand manpage" -l dir -d 'Write mptcp-probe.1 and one page per verb (mptcp-probe-check.1, ...) into this directory instead of printing mptcp-probe(1)' -r -F
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand manpage" -l json -d 'Machine-readable output: one JSON object per line. The environment variable takes 1/0, true/false, yes/no, on/off (y/n, t/f); anything else is an error, not a guess'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand manpage" -s V -l version -d 'Print version'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "check" -d 'Does MPTCP work end to end to HOST? The main job: an MPTCP connection to the echo server, and with CAP_NET_RAW crafted v1/v0/plain SYNs'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "aggregate" -d 'Does every WAN of this router join the MPTCP connection and carry data? One verdict per WAN, then a summary'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "trace" -d 'Per hop: where on the path does MP_CAPABLE disappear?'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "doctor" -d 'This host\'s MPTCP readiness, with a fix for each problem'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "analyze" -d 'Decode every TCP packet of a pcap/pcapng file and summarise each MPTCP handshake found in it'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "completions" -d 'Print shell completions (bash, zsh, fish, elvish, powershell)'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "manpage" -d 'Print the man page mptcp-probe(1) in roff (--dir: every page)'
complete -c mptcp-probe -n "__fish_mptcp_probe_using_subcommand help; and not __fish_seen_subcommand_from check aggregate trace doctor analyze completions manpage help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
