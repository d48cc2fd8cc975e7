//! Operations: one function per command. Commands only parse (src/cli); operations do the work.

pub mod compare;
pub mod extract;
pub mod finalize;
pub mod history;
pub mod lifecycle;
pub mod pipeline;
pub mod regress;
pub mod render;
pub mod report;
pub mod run;
pub mod runs;
pub mod store;
pub mod upload;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Exit;

pub async fn dispatch(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::Run(args) => run::run(args, false).await,
        Command::Submit(args) => run::run(args, true).await,
        Command::Resume(args) => {
            let upload = !args.no_upload;
            run::resume(args, upload).await
        }
        Command::Status(args) => lifecycle::status(args).await,
        Command::Logs(args) => lifecycle::logs(args).await,
        Command::Cancel(args) => lifecycle::cancel(args).await,
        Command::Doctor(args) => lifecycle::doctor(args).await,
        Command::Wait(args) => {
            run::resume(
                crate::cli::ResumeArgs {
                    run: args.run,
                    follow: false,
                    no_upload: true,
                    db: Default::default(),
                },
                false,
            )
            .await
        }
        Command::Extract(args) => extract::run(args),
        Command::Upload(args) => upload::run(*args).await,
        Command::Runs(args) => runs::run(args),
        Command::History(args) => history::run(*args).await,
        Command::Regress(args) => regress::run(*args).await,
        Command::Compare(args) => compare::run(*args).await,
        Command::Report(args) => report::run(args),
        Command::Completions(args) => {
            use std::io::Write;
            let script = completion_script(args.shell);
            std::io::stdout()
                .write_all(script.as_bytes())
                .map_err(|e| anyhow::anyhow!("cannot write the completion script: {e}"))?;
            Ok(Exit::Success)
        }
        Command::Manpages(args) => {
            write_manpages(&args.output_dir)?;
            Ok(Exit::Success)
        }
    }
}

/// `perf-run.1` and `perf-run-<subcommand>.1` for every visible subcommand (clap_mangen).
pub fn write_manpages(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the man page directory {}", dir.display()))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, dir)
        .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
    Ok(())
}

/// The completion script for `shell`. clap_complete's bash generator names the dispatch states
/// of a hyphenated binary `perf__run__subcmd__…` but the option cases `perf__subcmd__run__subcmd__…`
/// (clap-rs/clap#6421, #6529), so no subcommand option ever completes; the cases are renamed
/// to the states the dispatcher uses.
pub fn completion_script(shell: clap_complete::Shell) -> String {
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "perf-run", &mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    if shell == clap_complete::Shell::Bash {
        text.replace("perf__subcmd__run", "perf__run")
    } else {
        text
    }
}
