//! Operations: one function per command. Commands only parse (src/cli); operations do the work.

pub mod extract;
pub mod finalize;
pub mod pipeline;
pub mod render;
pub mod run;
pub mod upload;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Exit;

pub async fn dispatch(cli: Cli) -> Result<Exit> {
    match cli.command {
        Command::Render(args) => render::run(args),
        Command::Run(args) => run::run(args, false).await,
        Command::Submit(args) => run::run(args, true).await,
        Command::Resume(args) => run::resume(args, true).await,
        Command::Wait(args) => {
            run::resume(
                crate::cli::ResumeArgs {
                    run: args.run,
                    follow: false,
                    db: Default::default(),
                },
                false,
            )
            .await
        }
        Command::Extract(args) => extract::run(args),
        Command::Upload(args) => upload::run(*args).await,
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut cmd = Cli::command();
            clap_complete::generate(args.shell, &mut cmd, "perf-run", &mut std::io::stdout());
            Ok(Exit::Success)
        }
        other => anyhow::bail!("`{}` is not implemented yet", command_name(&other)),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Render(_) => "render",
        Command::Run(_) => "run",
        Command::Submit(_) => "submit",
        Command::Status(_) => "status",
        Command::Wait(_) => "wait",
        Command::Logs(_) => "logs",
        Command::Cancel(_) => "cancel",
        Command::Resume(_) => "resume",
        Command::Doctor(_) => "doctor",
        Command::Extract(_) => "extract",
        Command::Upload(_) => "upload",
        Command::Completions(_) => "completions",
    }
}
