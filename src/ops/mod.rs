//! Operations: one function per command. Commands only parse (src/cli); operations do the work.

pub mod extract;
pub mod finalize;
pub mod lifecycle;
pub mod pipeline;
pub mod render;
pub mod run;
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
        Command::Resume(args) => run::resume(args, true).await,
        Command::Status(args) => lifecycle::status(args).await,
        Command::Logs(args) => lifecycle::logs(args).await,
        Command::Cancel(args) => lifecycle::cancel(args).await,
        Command::Doctor(args) => lifecycle::doctor(args).await,
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
    }
}
