//! Shell completions and the man page, generated from the clap definition
//! so they never drift from the real options:
//! `mptcp-probe completions bash|zsh|fish|elvish|powershell` and
//! `mptcp-probe manpage` (roff on stdout). Both verbs are hidden from
//! `--help`; packagers run them at build time.
use crate::cli::Cli;
use clap::CommandFactory;
use std::io::Write;
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

/// The man page `mptcp-probe(1)` in roff: global options and the verbs.
pub fn manpage() -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    Ok(out)
}

/// Writes `mptcp-probe.1` and `mptcp-probe-VERB.1` (every visible verb,
/// with its options) into `dir`.
pub fn manpages_to(dir: &std::path::Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
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
        // Hidden verbs get no page.
        assert!(!dir.join("mptcp-probe-manpage.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
