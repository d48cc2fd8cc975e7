//! Operations: one function per command. Commands only parse (src/cli); operations do the work.

pub mod compare;
pub mod exit;
pub mod extract;
pub mod history;
pub mod lifecycle;
pub mod regress;
pub mod render;
pub mod report;
pub mod run;
pub mod runs;
pub mod upload;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::error::Exit;
use crate::output;

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
                    gate: None,
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
        Command::Report(args) => report::run(args).await,
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
        Command::CompleteValues(args) => {
            let values = complete_values(&args.what, &args.words, &crate::config::process_env);
            if !values.is_empty() {
                output::data(values.join("\n"));
            }
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
        let file_reply = "COMPREPLY=($(compgen -f \"${cur}\"))";
        let mut out = String::with_capacity(text.len());
        let mut pending: Option<&str> = None;
        for line in text.replace("perf__subcmd__run", "perf__run").lines() {
            let t = line.trim();
            if t == "--cluster)" {
                pending = Some("clusters");
            } else if t == "--config)" {
                pending = Some("configs");
            } else if let Some(what) = pending.take()
                && t == file_reply
            {
                // Values known at completion time: the profile names of the clusters file in
                // use, the configs of the checkout on the line (or TRTLLM_DIR).
                let indent = &line[..line.len() - line.trim_start().len()];
                out.push_str(&format!(
                    "{indent}COMPREPLY=($(compgen -W \"$(perf-run complete-values {what} \"${{COMP_WORDS[@]}}\" 2>/dev/null)\" -- \"${{cur}}\"))\n"
                ));
                continue;
            }
            if t.starts_with("opts=\"") && t.contains(" complete-values ") {
                // The top level's subcommand list: clap_complete lists hidden subcommands too.
                let shown: Vec<&str> = line
                    .split(' ')
                    .filter(|w| !HIDDEN_SUBCOMMANDS.contains(w))
                    .collect();
                out.push_str(&shown.join(" "));
                out.push('\n');
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        out
    } else {
        text
    }
}

/// Subcommands kept for old scripts or for packaging, not offered by completion.
const HIDDEN_SUBCOMMANDS: [&str; 3] = ["wait", "manpages", "complete-values"];

/// The candidates of `complete-values`: cluster profile names (from `--clusters-file`,
/// `PERF_RUN_CLUSTERS`, the default paths or the built-in file) or config names (of the
/// `--trtllm-dir` on the line, else `TRTLLM_DIR`). Anything unreadable gives no candidates.
pub fn complete_values(
    what: &str,
    words: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<String> {
    let flag = |name: &str| -> Option<String> {
        let eq = format!("{name}=");
        words.iter().enumerate().find_map(|(i, w)| {
            if w == name {
                words.get(i + 1).cloned()
            } else {
                w.strip_prefix(&eq).map(str::to_string)
            }
        })
    };
    match what {
        "clusters" => {
            let overrides = crate::config::settings::Overrides {
                clusters_file: flag("--clusters-file").map(Into::into),
                ..Default::default()
            };
            match crate::config::settings::load_profile_set(&overrides, env) {
                Ok((Some(set), _)) => set.profiles.keys().cloned().collect(),
                _ => vec![],
            }
        }
        "configs" => {
            let Some(dir) = flag("--trtllm-dir").or_else(|| env("TRTLLM_DIR")) else {
                return vec![];
            };
            match crate::config::layout::Layout::detect(std::path::Path::new(&dir)) {
                Ok(l) => l.config_names(&[
                    crate::config::perf_sanity::ConfigKind::Aggregated,
                    crate::config::perf_sanity::ConfigKind::Disaggregated,
                ]),
                Err(_) => vec![],
            }
        }
        _ => vec![],
    }
}
