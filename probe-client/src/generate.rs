//! Shell completions and the man page, generated from the clap definition
//! so they never drift from the real options:
//! `mptcp-probe completions bash|zsh|fish|elvish|powershell` and
//! `mptcp-probe manpage` (roff on stdout). Packagers run them at build
//! time. The main page wraps clap's option and verb lists in the prose of
//! [`crate::manual`].
use crate::cli::Cli;
use crate::manual;
use clap::CommandFactory;
use clap_mangen::Man;
use roff::Roff;
use std::io::{self, Write};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Completions for `shell`, as the shell sources them.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "mptcp-probe", &mut out);
    out
}

/// `mptcp-probe manpage` options.
#[derive(Debug, clap::Args)]
pub struct ManpageArgs {
    /// Write mptcp-probe.1 and one page per verb (mptcp-probe-check.1, ...)
    /// into this directory instead of printing mptcp-probe(1).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<std::path::PathBuf>,
}

/// The command as the man pages describe it: without the `help` verb,
/// which has no page of its own (`mptcp-probe help VERB` is `--help`).
fn documented() -> clap::Command {
    Cli::command()
        .disable_help_subcommand(true)
        // NAME already says mptcp-probe: the crate description minus it.
        .about("does Multipath TCP survive this path, and if not, why and where")
}

/// The man page `mptcp-probe(1)` in roff: description, global options,
/// the verbs, exit status, verdicts with their fixes, examples, files.
pub fn manpage() -> io::Result<Vec<u8>> {
    let man = Man::new(documented());
    // The apostrophe definitions once, then every part without its copy.
    let mut page = Roff::new().render();
    page.push_str(&clap_part(|w| man.render_title(w))?);
    page.push_str(&clap_part(|w| man.render_name_section(w))?);
    page.push_str(&clap_part(|w| man.render_synopsis_section(w))?);
    page.push_str(&without_preamble(manual::description().render()));
    page.push_str(&clap_part(|w| man.render_options_section(w))?);
    page.push_str(&clap_part(|w| man.render_subcommands_section(w))?);
    page.push_str(&without_preamble(manual::reference().render()));
    page.push_str(&clap_part(|w| man.render_version_section(w))?);
    Ok(page.into_bytes())
}

/// One section rendered by clap_mangen.
fn clap_part(f: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> io::Result<String> {
    let mut out = Vec::new();
    f(&mut out)?;
    let text = String::from_utf8(out).map_err(io::Error::other)?;
    Ok(without_preamble(text))
}

/// Every roff rendering starts with the same apostrophe definitions (an
/// empty document is nothing else); a page needs them once.
fn without_preamble(text: String) -> String {
    let preamble = Roff::new().render();
    match text.strip_prefix(preamble.as_str()) {
        Some(rest) => rest.to_string(),
        None => text,
    }
}

/// Writes `mptcp-probe.1` and `mptcp-probe-VERB.1` (every visible verb,
/// with its options and a SEE ALSO back to the main page) into `dir`.
pub fn manpages_to(dir: &std::path::Path) -> io::Result<()> {
    clap_mangen::generate_to(documented(), dir)?;
    let see_also = without_preamble(manual::verb_see_also().render());
    for verb in documented().get_subcommands().filter(|v| !v.is_hide_set()) {
        let path = dir.join(format!("mptcp-probe-{}.1", verb.get_name()));
        let mut page = std::fs::OpenOptions::new().append(true).open(path)?;
        page.write_all(see_also.as_bytes())?;
    }
    std::fs::write(dir.join("mptcp-probe.1"), manpage()?)
}

fn emit(bytes: std::io::Result<Vec<u8>>) -> ExitCode {
    let written = bytes.and_then(|b| {
        let mut out = std::io::stdout().lock();
        out.write_all(&b)?;
        out.flush()
    });
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mptcp-probe: writing output: {e}");
            ExitCode::from(2)
        }
    }
}

pub fn run_completions(args: &CompletionsArgs) -> ExitCode {
    emit(Ok(completions(args.shell)))
}

pub fn run_manpage(args: &ManpageArgs) -> ExitCode {
    match &args.dir {
        None => emit(manpage()),
        Some(dir) => match manpages_to(dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("mptcp-probe: writing man pages to {}: {e}", dir.display());
                ExitCode::from(2)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    const VERBS: [&str; 4] = ["check", "trace", "doctor", "analyze"];

    #[test]
    fn every_shell_completes_every_verb() {
        for shell in clap_complete::Shell::value_variants() {
            let text = String::from_utf8(completions(*shell)).unwrap();
            assert!(!text.is_empty(), "{shell}");
            for verb in VERBS {
                assert!(text.contains(verb), "{shell}: {verb} missing");
            }
            // fish writes long options as `-l json`.
            assert!(text.contains("json"), "{shell}: --json missing");
            assert!(text.contains("interface"), "{shell}: --interface missing");
        }
    }

    #[test]
    fn manpage_lists_every_verb() {
        let text = String::from_utf8(manpage().unwrap()).unwrap();
        assert!(text.contains(".TH mptcp-probe 1"), "{text}");
        assert!(text.contains("\\-\\-json"), "{text}");
        for verb in VERBS {
            assert!(
                text.contains(&format!("mptcp\\-probe\\-{verb}(1)")),
                "{verb} missing: {text}"
            );
        }
    }

    #[test]
    fn manpage_dir_has_one_page_per_verb_with_its_options() {
        let dir = std::env::temp_dir().join(format!("mptcp-probe-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        manpages_to(&dir).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(read("mptcp-probe.1").contains(".TH mptcp-probe 1"));
        for verb in VERBS {
            let page = read(&format!("mptcp-probe-{verb}.1"));
            assert!(
                page.contains(&format!(".TH mptcp-probe-{verb} 1")),
                "{page}"
            );
        }
        assert!(read("mptcp-probe-trace.1").contains("\\-\\-interface"));
        assert!(read("mptcp-probe-check.1").contains("omr\\-status"));
        // Every verb page leads back to the main page.
        for verb in VERBS.iter().chain(&["completions", "manpage"]) {
            let page = read(&format!("mptcp-probe-{verb}.1"));
            assert!(page.contains(".SH \"SEE ALSO\""), "{verb}: {page}");
        }
        // The main page is the full one, not clap's bare listing.
        assert_eq!(read("mptcp-probe.1").into_bytes(), manpage().unwrap());
        // `help` is no verb with a page of its own.
        assert!(!dir.join("mptcp-probe-help.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn manpage_teaches_more_than_the_options() {
        let text = String::from_utf8(manpage().unwrap()).unwrap();
        assert_eq!(
            text.matches(".ie \\n(.g").count(),
            1,
            "one preamble: {text}"
        );
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "SUBCOMMANDS",
            "\"EXIT STATUS\"",
            "VERDICTS",
            "EXAMPLES",
            "ENVIRONMENT",
            "FILES",
            "\"SEE ALSO\"",
        ] {
            assert_eq!(
                text.matches(&format!(".SH {section}\n")).count(),
                1,
                "{section}: {text}"
            );
        }
        assert!(!text.contains("mptcp\\-probe\\-help"), "{text}");
        assert!(text.contains("mptcp\\-probe\\-server(8)"), "{text}");
        assert!(text.contains("mptcp\\-probe\\-completions(1)"), "{text}");
        assert!(text.contains("\\-\\-format omr\\-status"), "{text}");
        assert!(!text.contains("mptcp\\-probe \\- mptcp\\-probe:"), "{text}");
    }

    /// Cross builds (the OpenWrt package) cannot run the binary they build:
    /// they install the committed copies, which must be what the code
    /// generates. `packaging/regenerate.sh` rewrites them.
    #[test]
    fn committed_man_pages_and_completions_are_current() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let stale = "stale: run packaging/regenerate.sh";
        let dir = std::env::temp_dir().join(format!("mptcp-probe-man-c-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        manpages_to(&dir).unwrap();
        let names = |d: &std::path::Path| {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&dir), names(&root.join("man")), "{stale}");
        for name in names(&dir) {
            let fresh = std::fs::read(dir.join(&name)).unwrap();
            let committed = std::fs::read(root.join("man").join(&name)).unwrap();
            assert!(fresh == committed, "man/{name:?} {stale}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
        for (shell, file) in [
            (clap_complete::Shell::Bash, "mptcp-probe.bash"),
            (clap_complete::Shell::Zsh, "_mptcp-probe"),
            (clap_complete::Shell::Fish, "mptcp-probe.fish"),
        ] {
            let committed = std::fs::read(root.join("completions").join(file)).unwrap();
            assert!(
                completions(shell) == committed,
                "completions/{file} {stale}"
            );
        }
    }

    #[test]
    fn help_shows_completions_and_manpage() {
        let help = Cli::command().render_help().to_string();
        assert!(help.contains("completions"), "{help}");
        assert!(help.contains("manpage"), "{help}");
    }
}
