use std::sync::atomic::Ordering;

use super::*;
use crate::journal::events::Event;
use crate::slurm::sim::{SimCluster, Timeline};
use crate::slurm::{JobRecord, JobState};

/// The watcher stopped on an error of its own after two jobs were submitted, one of which
/// had ended: the live one is cancelled (one scancel) and the ended one keeps its record.
#[tokio::test(start_paused = true)]
async fn a_watcher_failure_cancels_what_may_still_run_and_keeps_what_ended() {
    crate::output::set_quiet(true);
    let home = tempfile::tempdir().unwrap();
    let rd = RunDir::create(home.path(), "20261130-000000-0001").unwrap();
    let cluster = SimCluster::new(Timeline::completes(1.0, 3600.0));
    let ids = [
        cluster
            .submit("/w/00-a", "/w/00-a/slurm_launch.sh")
            .await
            .unwrap(),
        cluster
            .submit("/w/01-b", "/w/01-b/slurm_launch.sh")
            .await
            .unwrap(),
    ];
    let j = Journal::open(&rd.journal_path()).unwrap();
    for (case, id) in [("00-a", &ids[0]), ("01-b", &ids[1])] {
        j.record(Event::Submitted {
            case: case.into(),
            job_id: id.clone(),
            batch_log: format!("/w/{case}/slurm-{id}.log"),
        })
        .unwrap();
    }
    j.record(Event::Finished {
        case: "00-a".into(),
        record: JobRecord::bare(
            &ids[0],
            JobState::parse("COMPLETED"),
            crate::slurm::RecordSource::Sacct,
        ),
    })
    .unwrap();
    let out = watcher_failed(
        &rd,
        &cluster,
        anyhow::anyhow!("the journal cannot be written"),
    )
    .await;
    assert_eq!(cluster.calls().scancel.load(Ordering::Relaxed), 1);
    let recs = cluster.poll(&ids, 3600).await.unwrap();
    assert!(
        recs[&ids[1]].state.raw.starts_with("CANCELLED"),
        "{:?}",
        recs[&ids[1]]
    );
    assert!(
        !recs[&ids[0]].state.raw.starts_with("CANCELLED"),
        "the ended job is left alone"
    );
    assert!(out.results["00-a"].record.is_some());
    assert!(
        !out.results.contains_key("01-b"),
        "its end was not seen: infra later"
    );
}
