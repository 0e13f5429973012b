//! `ward completions <SHELL>`: the shell completion script for bash, zsh or
//! fish on stdout, generated from the same clap definitions as `--help`, so
//! it always knows every subcommand and flag of this binary. Installed the
//! way shells expect: `ward completions bash > /etc/bash_completion.d/ward`,
//! `ward completions zsh > "${fpath[1]}/_ward"`, `ward completions fish >
//! ~/.config/fish/completions/ward.fish`.

use std::process::ExitCode;

use clap_complete::Shell;

/// Arguments of `ward completions`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub(crate) shell: ShellArg,
}

/// The shells ward writes completions for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ShellArg {
    /// GNU bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

impl From<ShellArg> for Shell {
    fn from(shell: ShellArg) -> Self {
        match shell {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Zsh => Shell::Zsh,
            ShellArg::Fish => Shell::Fish,
        }
    }
}

/// Writes the completion script of `cli` (ward's whole command line) for the shell.
pub(crate) fn run(args: Args, mut cli: clap::Command) -> anyhow::Result<ExitCode> {
    let name = cli.get_name().to_string();
    crate::render::to_stdout(|out| {
        clap_complete::generate(Shell::from(args.shell), &mut cli, name, out);
        Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn script(shell: ShellArg) -> String {
        let mut cli = crate::Cli::command();
        let mut out = Vec::new();
        clap_complete::generate(Shell::from(shell), &mut cli, "ward", &mut out);
        String::from_utf8(out).unwrap()
    }

    /// Each script knows every subcommand, and the flags of one as an example.
    #[test]
    fn every_shell_completes_every_subcommand() {
        let cli = crate::Cli::command();
        for shell in [ShellArg::Bash, ShellArg::Zsh, ShellArg::Fish] {
            let script = script(shell);
            for sub in cli.get_subcommands() {
                assert!(
                    script.contains(sub.get_name()),
                    "{shell:?}: {} missing",
                    sub.get_name()
                );
            }
            for flag in ["check-interval", "dns-servers", "threshold", "fs-exclude"] {
                assert!(script.contains(flag), "{shell:?}: --{flag} missing");
            }
        }
        assert!(script(ShellArg::Bash).contains("complete -F _ward"));
    }

    #[test]
    fn the_shell_is_required_and_checked() {
        use clap::Parser;
        assert!(crate::Cli::try_parse_from(["ward", "completions", "zsh"]).is_ok());
        assert!(crate::Cli::try_parse_from(["ward", "completions", "tcsh"]).is_err());
        assert!(crate::Cli::try_parse_from(["ward", "completions"]).is_err());
    }
}
