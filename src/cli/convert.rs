//! The flags become domain values here, once (the cargo and bencher model: nothing below the
//! command line knows clap). Each conversion is an `impl From` (nothing can fail) or
//! `impl TryFrom` (the flags can contradict each other) from a clap struct to the value the
//! layer below takes.

use super::upload::DbArgs;
use super::{ClusterArgs, ConnectionArgs, InstallArg, ModeFilter, RenderArgs, SelectArgs, Stage};
use crate::config::mode::Mode;
use crate::config::settings::{InstallMode, Overrides};
use crate::perfdb::settings::{DbOverrides, DbSettingsError};
use crate::plan::select::{ConfigSelection, ListSelection, SelectError, Selection};

impl From<ModeFilter> for Mode {
    fn from(m: ModeFilter) -> Self {
        match m {
            ModeFilter::SingleAgg => Mode::SingleAgg,
            ModeFilter::MultiAgg => Mode::MultiAgg,
            ModeFilter::Disagg => Mode::Disagg,
        }
    }
}

impl From<InstallArg> for InstallMode {
    fn from(i: InstallArg) -> Self {
        match i {
            InstallArg::Auto => InstallMode::Auto,
            InstallArg::None => InstallMode::None,
        }
    }
}

impl From<Stage> for crate::judge::Stage {
    fn from(s: Stage) -> Self {
        match s {
            Stage::PreMerge => crate::judge::Stage::PreMerge,
            Stage::PostMerge => crate::judge::Stage::PostMerge,
        }
    }
}

/// `status`, `doctor`: only the connection flags; nothing else is asked for.
impl From<&ConnectionArgs> for Overrides {
    fn from(c: &ConnectionArgs) -> Self {
        Overrides {
            cluster: c.cluster.clone(),
            clusters_file: c.clusters_file.clone(),
            host: c.host.clone(),
            user: c.user.clone(),
            ssh_config: c.ssh_config.clone(),
            cluster_type: c.cluster_type.clone(),
            workdir: c.workdir.clone(),
            partition: c.partition.clone(),
            account: c.account.clone(),
            ..Default::default()
        }
    }
}

/// `render`, `run`, `submit`: the cluster flags and the test-id/checkout part of the selection.
impl From<&RenderArgs> for Overrides {
    fn from(a: &RenderArgs) -> Self {
        let ClusterArgs {
            conn,
            llm_data,
            storage,
            extra_srun_params,
            image,
            mpi,
            time,
            templates,
            requeue,
            no_requeue,
            stall_after,
        } = &a.cluster;
        let s = &a.select;
        Overrides {
            llm_data: llm_data.clone(),
            storage: storage.clone(),
            extra_srun_params: extra_srun_params.clone(),
            image: image.clone(),
            mpi: mpi.clone(),
            time: time.clone(),
            templates: templates.clone(),
            // clap refuses both at once.
            requeue: match (requeue, no_requeue) {
                (true, _) => Some(true),
                (false, true) => Some(false),
                (false, false) => None,
            },
            stall_after: *stall_after,
            module: s.module.clone(),
            function: s.function.clone(),
            prefix: s.prefix.clone(),
            trtllm_dir: s.trtllm_dir.clone(),
            trtllm_wheel: s.trtllm_wheel.clone(),
            install: s.install.map(InstallMode::from),
            ..Overrides::from(conn)
        }
    }
}

/// Exactly one of `--config`, `--test`, `--testlist`, each with only its own refinements.
impl TryFrom<&SelectArgs> for Selection {
    type Error = SelectError;

    fn try_from(a: &SelectArgs) -> Result<Self, SelectError> {
        let selection = match (&a.config, &a.test, &a.testlist) {
            (None, None, None) => return Err(SelectError::NothingSelected),
            (Some(name), None, None) => Selection::Config(ConfigSelection {
                name: name.clone(),
                servers: a.server.as_ref().map(|s| {
                    s.split(',')
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(str::to_string)
                        .collect()
                }),
                benchmark_mode: a.benchmark_mode.clone(),
            }),
            (None, Some(id), None) => Selection::Test(id.clone()),
            (None, None, Some(path)) => Selection::List(ListSelection {
                path: path.clone(),
                k: a.k.clone(),
                mode: a.mode.map(Mode::from),
                stage: a.stage.map(Into::into),
            }),
            (config, test, testlist) => {
                let given = [
                    config.as_ref().map(|_| "--config"),
                    test.as_ref().map(|_| "--test"),
                    testlist.as_ref().map(|_| "--testlist"),
                ];
                return Err(SelectError::Conflicting(
                    given.into_iter().flatten().collect(),
                ));
            }
        };
        if a.testlist.is_none() && (a.k.is_some() || a.mode.is_some() || a.stage.is_some()) {
            return Err(SelectError::ListFilterWithoutList);
        }
        if a.config.is_none() && (a.server.is_some() || a.benchmark_mode.is_some()) {
            return Err(SelectError::RefinementWithoutConfig);
        }
        Ok(selection)
    }
}

/// The `--db-*` flags; a password on the command line is refused here.
impl TryFrom<&DbArgs> for DbOverrides {
    type Error = DbSettingsError;

    fn try_from(a: &DbArgs) -> Result<Self, DbSettingsError> {
        if a.db_password_on_cli.is_some() {
            return Err(DbSettingsError::PasswordOnCommandLine);
        }
        Ok(DbOverrides {
            host: a.db_host.clone(),
            port: a.db_port,
            user: a.db_user.clone(),
            schema: a.db_schema.clone(),
            password_file: a.db_password_file.clone(),
            spool_dir: a.spool_dir.clone(),
            trtperf_url: a.trtperf_url.clone(),
            connect_timeout: a.db_connect_timeout,
            ssl_mode: a.db_ssl_mode.clone(),
            ssl_ca: a.db_ssl_ca.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    /// The domain values of `perf-run render ARGS…`, parsed by clap as the binary does.
    fn render_args(args: &[&str]) -> RenderArgs {
        let cli = Cli::try_parse_from(["perf-run", "render"].iter().chain(args))
            .expect("clap accepts the flags");
        match cli.command {
            Command::Render(a) => a,
            other => panic!("not render: {other:?}"),
        }
    }

    fn selection(args: &[&str]) -> Result<Selection, SelectError> {
        Selection::try_from(&render_args(args).select)
    }

    #[test]
    fn one_selection_with_its_own_refinements() {
        assert_eq!(
            selection(&["--config", "c", "--server", " a, ,b "]).unwrap(),
            Selection::Config(ConfigSelection {
                name: "c".into(),
                servers: Some(vec!["a".into(), "b".into()]),
                benchmark_mode: None,
            })
        );
        assert_eq!(
            selection(&["--test", "m.py::f[x]"]).unwrap(),
            Selection::Test("m.py::f[x]".into())
        );
        assert_eq!(
            selection(&[
                "--testlist",
                "l.yml",
                "-k",
                "r1",
                "--mode",
                "multi-agg",
                "--stage",
                "pre-merge"
            ])
            .unwrap(),
            Selection::List(ListSelection {
                path: "l.yml".into(),
                k: Some("r1".into()),
                mode: Some(Mode::MultiAgg),
                stage: Some(crate::judge::Stage::PreMerge),
            })
        );
    }

    #[test]
    fn contradictions_are_the_sentences_users_saw_before() {
        let msg = |args: &[&str]| selection(args).unwrap_err().to_string();
        assert_eq!(
            msg(&[]),
            "nothing selected: give one of --config NAME, --test NODEID or --testlist FILE"
        );
        assert_eq!(
            msg(&["--config", "c", "--test", "t", "--testlist", "l"]),
            "--config and --test and --testlist cannot be combined: choose exactly one way to select what to run"
        );
        // Nothing selected wins over a filter without its list (as before).
        assert!(msg(&["-k", "x"]).starts_with("nothing selected"));
        for filter in [
            &["-k", "x"][..],
            &["--mode", "disagg"],
            &["--stage", "post_merge"],
        ] {
            let args: Vec<&str> = ["--config", "c"].iter().chain(filter).copied().collect();
            assert_eq!(
                msg(&args),
                "-k, --mode and --stage filter a test list; use them together with --testlist"
            );
        }
        for refine in [&["--server", "s"][..], &["--benchmark-mode", "e2e"]] {
            let args: Vec<&str> = ["--testlist", "l"].iter().chain(refine).copied().collect();
            assert_eq!(
                msg(&args),
                "--server and --benchmark-mode refine --config; use them together with --config"
            );
        }
        assert_eq!(
            selection(&[]).unwrap_err().exit(),
            crate::error::Exit::Usage
        );
    }

    #[test]
    fn cluster_and_test_flags_become_overrides() {
        let o = Overrides::from(&render_args(&[
            "--cluster",
            "gb200",
            "--host",
            "h",
            "--image",
            "",
            "--no-requeue",
            "--stall-after",
            "30",
            "--module",
            "m.py",
            "--install",
            "none",
        ]));
        assert_eq!(o.cluster.as_deref(), Some("gb200"));
        assert_eq!(o.host.as_deref(), Some("h"));
        assert_eq!(
            o.image.as_deref(),
            Some(""),
            "empty = explicitly no container"
        );
        assert_eq!(o.requeue, Some(false));
        assert_eq!(o.stall_after, Some(30));
        assert_eq!(o.module.as_deref(), Some("m.py"));
        assert_eq!(o.install, Some(InstallMode::None));
        assert_eq!(
            Overrides::from(&render_args(&["--requeue"])).requeue,
            Some(true)
        );
        assert_eq!(Overrides::from(&render_args(&[])).requeue, None);
    }

    #[test]
    fn every_mode_flag_is_the_mode_of_the_same_name() {
        use clap::ValueEnum;
        for m in ModeFilter::value_variants() {
            let name = m
                .to_possible_value()
                .expect("a visible value")
                .get_name()
                .to_string();
            assert_eq!(Mode::from(*m).as_str(), name);
        }
    }

    #[test]
    fn a_password_on_the_command_line_is_refused_with_reason() {
        let args = DbArgs {
            db_password_on_cli: Some("hunter2".into()),
            ..Default::default()
        };
        let err = DbOverrides::try_from(&args).unwrap_err().to_string();
        assert!(err.contains("refused"), "{err}");
        assert!(err.contains("DB_PASSWORD"), "{err}");
        assert!(err.contains("--db-password-file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let args = DbArgs {
            db_host: Some("h".into()),
            db_connect_timeout: Some(3),
            ..Default::default()
        };
        let o = DbOverrides::try_from(&args).unwrap();
        assert_eq!(o.host.as_deref(), Some("h"));
        assert_eq!(o.connect_timeout, Some(3));
    }
}
