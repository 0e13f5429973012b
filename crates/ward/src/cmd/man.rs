//! `ward man`: manual pages in roff, generated from the same clap
//! definitions as `--help`. `ward man` prints ward(1), `ward man nurse ring`
//! the page of that subcommand (ward-nurse-ring(1)), for `ward man | man -l
//! -`; `ward man --dir DIR` writes every page (ward.1, ward-nurse.1, …) for a
//! package's man directory. The binary writes them itself, rather than a
//! build step, because ward ships as one static binary (often only in an
//! image): the pages always match the binary at hand.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

/// Arguments of `ward man`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The subcommand whose page to print (`nurse`, `lookup once`, …); none: ward(1).
    pub(crate) command: Vec<String>,
    /// Write every page into this directory instead of printing one.
    #[arg(long, conflicts_with = "command")]
    pub(crate) dir: Option<PathBuf>,
}

/// The command `path` names in `cli`, built (subcommands named `ward-nurse`…).
fn page(cli: clap::Command, path: &[String]) -> anyhow::Result<clap::Command> {
    let mut cmd = cli.disable_help_subcommand(true);
    cmd.build();
    for name in path {
        let sub = cmd.find_subcommand(name).cloned().with_context(|| {
            let parent = cmd.get_bin_name().unwrap_or(cmd.get_name());
            format!("{name:?}: no such subcommand of {parent}")
        })?;
        cmd = sub;
    }
    Ok(cmd)
}

/// Prints the page `args.command` names, or writes every page to `--dir`.
pub(crate) fn run(args: Args, cli: clap::Command) -> anyhow::Result<ExitCode> {
    match &args.dir {
        Some(dir) => clap_mangen::generate_to(cli, dir)
            .with_context(|| format!("writing man pages to --dir {}", dir.display()))?,
        None => {
            let man = clap_mangen::Man::new(page(cli, &args.command)?);
            crate::render::to_stdout(|out| man.render(out))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn roff(path: &[&str]) -> String {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        clap_mangen::Man::new(page(crate::Cli::command(), &path).unwrap())
            .render(&mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Flags as roff writes them (`\-\-check\-interval`).
    fn roff_flag(long: &str) -> String {
        format!("\\-\\-{}", long.replace('-', "\\-"))
    }

    /// ward(1) names every subcommand; each subcommand's page, every flag of it.
    #[test]
    fn the_pages_name_every_subcommand_and_flag() {
        let top = roff(&[]);
        assert!(top.contains(".TH ward 1"), "{top}");
        let mut cli = crate::Cli::command().disable_help_subcommand(true);
        cli.build();
        for sub in cli.get_subcommands() {
            assert!(
                top.contains(sub.get_name()),
                "ward(1) lacks {}",
                sub.get_name()
            );
            let page = roff(&[sub.get_name()]);
            assert!(
                page.contains(&format!(".TH ward-{} 1", sub.get_name())),
                "{page}"
            );
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    assert!(
                        page.contains(&roff_flag(long)),
                        "ward-{}(1) lacks --{long}",
                        sub.get_name()
                    );
                }
            }
        }
        assert!(roff(&["nurse", "ring"]).contains(&roff_flag("nodes-file")));
    }

    #[test]
    fn an_unknown_page_names_what_was_asked() {
        let err = page(crate::Cli::command(), &["nurse".into(), "rung".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\"rung\": no such subcommand of ward nurse"
        );
    }

    #[test]
    fn every_page_goes_to_a_directory() {
        let dir = tempfile::tempdir().unwrap();
        run(
            Args {
                command: Vec::new(),
                dir: Some(dir.path().to_path_buf()),
            },
            crate::Cli::command(),
        )
        .unwrap();
        for page in [
            "ward.1",
            "ward-nurse.1",
            "ward-nurse-ring.1",
            "ward-lookup-once.1",
            "ward-slo-generate.1",
        ] {
            assert!(dir.path().join(page).is_file(), "{page}");
        }
    }
}
