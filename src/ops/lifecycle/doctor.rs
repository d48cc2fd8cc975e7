use crate::cli::DoctorArgs;
use crate::config::settings::{ClusterType, Settings, resolve};
use crate::error::Exit;
use crate::output;
use crate::remote::{ClusterRef, connect};
use crate::remote::{QUICK, Remote};
use crate::shell::sh;
use crate::slurm::{Scheduler, Slurm};
use anyhow::Result;

#[derive(Default)]
pub(super) struct Checks {
    pub(super) failed: usize,
    /// Every check as reported: (passed, what, detail).
    pub(super) seen: Vec<(bool, String, String)>,
}

impl Checks {
    fn report(&mut self, ok: bool, what: &str, detail: &str) {
        self.seen.push((ok, what.to_string(), detail.to_string()));
        if ok {
            output::info(format!(
                "ok    {what}{}",
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ));
        } else {
            self.failed += 1;
            output::error(format!("FAIL  {what}: {detail}"));
        }
    }
}

/// `perf-run doctor --cluster NAME`.
pub async fn doctor(args: DoctorArgs) -> Result<Exit> {
    let env = crate::config::process_env;
    let mut c = Checks::default();
    let settings = resolve(&(&args.cluster).into(), &env)?;
    // The doctor's test script carries these in #SBATCH lines: the same allowlist as `render`
    // (security review B5).
    if let Some(p) = &settings.partition {
        crate::render::check_sbatch_value("partition", p)?;
    }
    if let Some(a) = &settings.account {
        crate::render::check_sbatch_value("account", a)?;
    }
    let cref = ClusterRef::of(&settings);
    c.report(
        true,
        "cluster profile",
        &format!(
            "{} ({}, host {}, user {} from {}, work dir {})",
            settings.cluster_name.as_deref().unwrap_or("(none)"),
            cref.kind.as_str(),
            settings.host.as_deref().unwrap_or("-"),
            settings.user.as_deref().unwrap_or("-"),
            settings
                .origins
                .get("CLUSTER_USER")
                .map(|s| s.describe(
                    "--user",
                    "CLUSTER_USER",
                    settings.cluster_name.as_deref().unwrap_or("?")
                ))
                .unwrap_or_default(),
            settings.workdir
        ),
    );
    c.report(
        which::which("rsync").is_ok(),
        "rsync on this machine",
        "needed to sync files",
    );
    if cref.kind == ClusterType::Ssh {
        c.report(
            which::which("ssh").is_ok(),
            "ssh client on this machine",
            "",
        );
    }
    let remote = match connect(&cref).await {
        Ok(r) => {
            c.report(
                true,
                "connection (ssh reachable, host key known and matching)",
                &r.describe(),
            );
            r
        }
        Err(e) => {
            c.report(false, "connection", &format!("{e:#}"));
            return Ok(Exit::Infra);
        }
    };
    let tools = [
        "sbatch", "sacct", "squeue", "scontrol", "scancel", "srun", "sinfo", "rsync", "bash",
    ];
    let o = remote
        .exec(
            &format!(
                "for t in {}; do command -v \"$t\" >/dev/null || echo \"$t\"; done",
                tools.join(" ")
            ),
            QUICK,
            true,
        )
        .await;
    match o {
        Ok(o) => {
            let missing = o
                .stdout_text()
                .split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>();
            c.report(
                missing.is_empty(),
                "Slurm tools and rsync on the login node",
                &if missing.is_empty() {
                    tools.join(", ")
                } else {
                    format!("missing: {}", missing.join(", "))
                },
            );
        }
        Err(e) => c.report(false, "Slurm tools on the login node", &format!("{e:#}")),
    }
    let wd = &settings.workdir;
    let o = remote
        .exec(
            &format!("mkdir -p {0} && test -w {0} && echo ok", sh(&[wd])),
            QUICK,
            true,
        )
        .await;
    c.report(
        o.as_ref().is_ok_and(|o| o.stdout_text().contains("ok")),
        "work directory writable",
        wd,
    );
    // sbatch --test-only of a trivial script with this profile's partition/account.
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        "#SBATCH --nodes=1".into(),
        "#SBATCH --time=00:01:00".into(),
    ];
    if let Some(p) = &settings.partition {
        lines.push(format!("#SBATCH --partition={p}"));
    }
    if let Some(a) = &settings.account {
        lines.push(format!("#SBATCH --account={a}"));
    }
    if let Some(g) = settings.gpus_per_node_capacity {
        lines.push(format!("#SBATCH --gpus-per-node={g}"));
    }
    lines.push("true".into());
    let script = format!("{wd}/.perf-run-doctor.sh");
    let write = format!(
        "printf '%s\\n' {} > {}",
        lines.iter().map(|l| sh(&[l])).collect::<Vec<_>>().join(" "),
        sh(&[&script])
    );
    let written = remote
        .exec(&write, QUICK, true)
        .await
        .is_ok_and(|o| o.success());
    let sched = Slurm::new(&remote);
    scheduler_checks(
        &sched,
        &settings,
        written.then_some(script.as_str()),
        &mut c,
    )
    .await;
    remote.close().await;
    if c.failed == 0 {
        output::info("the cluster looks usable");
        Ok(Exit::Success)
    } else {
        output::error(format!("{} check(s) failed", c.failed));
        Ok(Exit::Infra)
    }
}

/// What the scheduler says about this profile's settings (through the [`Scheduler`] interface,
/// so the simulator can answer too): the partition, the account, accounting, and
/// `sbatch --test-only` of `script` (a trivial script with the profile's `#SBATCH` lines,
/// already on the login node; `None` when it could not be written).
pub(super) async fn scheduler_checks<S: Scheduler>(
    sched: &S,
    settings: &Settings,
    script: Option<&str>,
    c: &mut Checks,
) {
    if let Some(p) = &settings.partition {
        match sched.partition_info(p).await {
            Ok(Some(line)) => c.report(true, "partition exists", &format!("{p}: {line}")),
            Ok(None) => c.report(
                false,
                "partition exists",
                &format!("Slurm knows no partition {p}"),
            ),
            Err(e) => c.report(false, "partition exists", &format!("{p}: {e}")),
        }
    }
    if let Some(a) = &settings.account {
        match sched.account_known(a).await {
            Ok(known) => c.report(
                known,
                "account exists",
                &if known {
                    a.clone()
                } else {
                    format!("the accounting database knows no account {a}")
                },
            ),
            Err(e) => c.report(false, "account exists", &format!("{a}: {e}")),
        }
    }
    let acct_ok = sched.accounting_answers().await.unwrap_or(false);
    c.report(
        acct_ok,
        "accounting (sacct)",
        if acct_ok {
            "answers"
        } else {
            "not available: perf-run will fall back to squeue/scontrol/sacct -c"
        },
    );
    match script {
        Some(script) => match sched.test_only(&settings.workdir, script).await {
            Ok(t) => c.report(true, "sbatch --test-only", t.lines().last().unwrap_or("")),
            Err(e) => c.report(false, "sbatch --test-only", &format!("{e:#}")),
        },
        None => c.report(
            false,
            "sbatch --test-only",
            "cannot write a test script to the work directory",
        ),
    }
}
