use super::*;

use crate::config::settings::Settings;
use crate::slurm::Scheduler;
use crate::slurm::sim::{Outage, SimCluster, Timeline};

fn site_settings(partition: &str, account: &str) -> Settings {
    let o = crate::config::settings::Overrides {
        cluster_type: Some("local".into()),
        workdir: Some("/w".into()),
        partition: Some(partition.into()),
        account: Some(account.into()),
        ..Default::default()
    };
    crate::config::settings::resolve_with(&o, &|_| None, &|_, _| Err("no ssh".into()))
        .expect("settings")
}

/// The doctor's scheduler checks go through the `Scheduler` interface: the simulated
/// cluster answers them, with one call each.
#[tokio::test]
async fn doctor_asks_the_scheduler_about_partition_account_accounting_and_test_only() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("doctor.sh");
    let write = |p: &str, a: &str| {
        std::fs::write(
            &script,
            format!("#!/bin/bash\n#SBATCH --partition={p}\n#SBATCH --account={a}\ntrue\n"),
        )
        .unwrap();
    };
    let sim = SimCluster::new(Timeline::completes(1.0, 1.0));
    sim.set_site(&[("gpu", "gpu up 4 gpu:8")], &["perf"]);
    let script_s = script.to_str().unwrap();

    // Everything known: four passes, one call each.
    write("gpu", "perf");
    let mut c = Checks::default();
    scheduler_checks(&sim, &site_settings("gpu", "perf"), Some(script_s), &mut c).await;
    assert_eq!(c.failed, 0, "{:?}", c.seen);
    assert_eq!(c.seen[0].2, "gpu: gpu up 4 gpu:8");
    assert!(c.seen[3].2.contains("in partition gpu"), "{:?}", c.seen[3]);
    assert_eq!(sim.calls().total(), 4);

    // A partition and an account Slurm does not know: said, and sbatch refuses.
    write("cpu", "nobody");
    let mut c = Checks::default();
    scheduler_checks(
        &sim,
        &site_settings("cpu", "nobody"),
        Some(script_s),
        &mut c,
    )
    .await;
    let failed: Vec<&str> = c
        .seen
        .iter()
        .filter(|s| !s.0)
        .map(|s| s.1.as_str())
        .collect();
    assert_eq!(
        failed,
        ["partition exists", "account exists", "sbatch --test-only"]
    );
    assert!(
        c.seen[0].2.contains("knows no partition cpu"),
        "{:?}",
        c.seen[0]
    );
    assert!(c.seen[3].2.contains("Invalid partition"), "{:?}", c.seen[3]);

    // Accounting down: the account cannot be checked and the watcher's fallback is named.
    sim.outage(Outage::Accounting { from: 0.0, to: 1e9 });
    write("gpu", "perf");
    let mut c = Checks::default();
    scheduler_checks(&sim, &site_settings("gpu", "perf"), Some(script_s), &mut c).await;
    let failed: Vec<&str> = c
        .seen
        .iter()
        .filter(|s| !s.0)
        .map(|s| s.1.as_str())
        .collect();
    assert_eq!(failed, ["account exists", "accounting (sacct)"]);
    assert!(
        c.seen[1].2.contains("Problem talking to the database"),
        "{:?}",
        c.seen[1]
    );
    assert!(
        c.seen[2].2.contains("fall back to squeue"),
        "{:?}",
        c.seen[2]
    );

    // No script on the login node: test-only is a failure that says why.
    let mut c = Checks::default();
    scheduler_checks(&sim, &site_settings("gpu", "perf"), None, &mut c).await;
    assert!(
        c.seen
            .last()
            .unwrap()
            .2
            .contains("cannot write a test script"),
        "{:?}",
        c.seen
    );
}

#[test]
fn no_exit_code_before_the_end() {
    let rec = |state: &str| {
        crate::slurm::parse_sacct(&format!("5|{state}|0:0||2026-01-01T00:00:00|2026-01-01T00:00:01|2026-01-01T00:00:02|1|n1|x\n"), crate::slurm::RecordSource::Sacct)
            .remove("5")
            .unwrap()
    };
    assert_eq!(shown_exit(&rec("PENDING")), None);
    assert_eq!(shown_exit(&rec("RUNNING")), None);
    assert_eq!(shown_exit(&rec("COMPLETED")), Some(0));
}
