//! The real Slurm backend: the [`Scheduler`] over a [`Remote`] login node.

use super::*;

/// The real Slurm backend: `sbatch`, `sacct`, `squeue`, `scontrol` and `scancel` over a
/// [`Remote`].
pub struct Slurm<'a, R: Remote> {
    pub remote: &'a R,
    pub calls: CallCounter,
    /// Per-call time limit.
    pub timeout: Duration,
    /// Accounting answered "not available" at this time: skip sacct until `ACCT_RETRY` later
    /// (one query per poll cycle, not a failing sacct plus the fallback).
    acct_down_since: std::sync::Mutex<Option<std::time::Instant>>,
}

/// How long perf-run goes straight to squeue after sacct said accounting is unavailable.
const ACCT_RETRY: Duration = Duration::from_secs(300);

impl<'a, R: Remote> Scheduler for Slurm<'a, R> {
    fn submit(
        &self,
        workspace: &str,
        script: &str,
    ) -> impl Future<Output = Result<String, SlurmError>> + Send {
        Slurm::submit(self, workspace, script)
    }
    fn poll(
        &self,
        ids: &[String],
        since_secs: u64,
    ) -> impl Future<Output = Result<BTreeMap<String, JobRecord>, SlurmError>> + Send {
        Slurm::poll(self, ids, since_secs)
    }
    fn cancel(&self, ids: &[String]) -> impl Future<Output = Result<(), SlurmError>> + Send {
        Slurm::cancel(self, ids)
    }
    fn find_by_name(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, SlurmError>> + Send {
        Slurm::find_by_name(self, name)
    }
    fn calls(&self) -> &CallCounter {
        &self.calls
    }
    async fn partition_info(&self, name: &str) -> Result<Option<String>, SlurmError> {
        self.calls.sinfo.fetch_add(1, Ordering::Relaxed);
        let out = self
            .remote
            .exec(
                &format!("sinfo -h -p {} -o '%P %a %D %G'", sh(&[name])),
                crate::remote::QUICK,
                true,
            )
            .await?;
        let text = out.stdout_text().trim().to_string();
        Ok((out.success() && !text.is_empty()).then_some(text))
    }
    async fn account_known(&self, name: &str) -> Result<bool, SlurmError> {
        self.calls.sacctmgr.fetch_add(1, Ordering::Relaxed);
        let out = self
            .remote
            .exec(
                &format!("sacctmgr -n -P show account {} format=Account", sh(&[name])),
                crate::remote::QUICK,
                true,
            )
            .await?;
        if !out.success() {
            return Err(SlurmError::Unreachable {
                said: out.stderr_summary(),
            });
        }
        Ok(out.stdout_text().lines().any(|l| l.trim() == name))
    }
    async fn accounting_answers(&self) -> Result<bool, SlurmError> {
        self.calls.sacct.fetch_add(1, Ordering::Relaxed);
        let out = self
            .remote
            .exec(
                "sacct -n -X -P --starttime=now-3600 -o JobID 2>&1 | head -3",
                crate::remote::QUICK,
                true,
            )
            .await?;
        let t = out.stdout_text().to_lowercase();
        Ok(!t.contains("disabled") && !t.contains("error"))
    }
    fn test_only(
        &self,
        workspace: &str,
        script: &str,
    ) -> impl Future<Output = Result<String, SlurmError>> + Send {
        Slurm::test_only(self, workspace, script)
    }
}

impl<'a, R: Remote> Slurm<'a, R> {
    pub fn new(remote: &'a R) -> Self {
        Slurm {
            remote,
            calls: CallCounter::default(),
            timeout: Duration::from_secs(60),
            acct_down_since: std::sync::Mutex::new(None),
        }
    }

    /// `sbatch --parsable` in the job's workspace, with a clean Slurm environment.
    pub async fn submit(&self, workspace: &str, script: &str) -> Result<String, SlurmError> {
        let cmd = format!(
            "{} cd {} && sbatch --parsable \"$perf_run_export\" {}",
            clean_env(),
            sh(&[workspace]),
            sh(&[script])
        );
        self.calls.sbatch.fetch_add(1, Ordering::Relaxed);
        // Not retried after a broken connection: a second sbatch could submit twice.
        let out = self.remote.exec(&cmd, self.timeout, false).await?;
        if !out.success() {
            let why = out.stderr_summary();
            let hint = if why.contains("Requested node configuration is not available")
                || why.contains("Node count specification invalid")
                || why.contains("More processors requested than permitted")
                || why.contains("Invalid generic resource")
            {
                " The request cannot be satisfied by this cluster: check the partition, the node count and the GPUs per node of the plan (`perf-run render --json`)."
            } else if why.contains("Invalid account") {
                " Check CLUSTER_ACCOUNT / --account."
            } else if why.contains("invalid partition") {
                " Check CLUSTER_PARTITION / --partition."
            } else {
                ""
            };
            return Err(SlurmError::SbatchRefused { why, hint });
        }
        parse_parsable(&out.stdout_text()).ok_or_else(|| SlurmError::NoJobId {
            stdout: out.stdout_text().trim().to_string(),
        })
    }

    /// `sbatch --test-only`: would the cluster accept this script? (doctor)
    pub async fn test_only(&self, workspace: &str, script: &str) -> Result<String, SlurmError> {
        let cmd = format!(
            "{} cd {} && sbatch --test-only \"$perf_run_export\" {} 2>&1",
            clean_env(),
            sh(&[workspace]),
            sh(&[script])
        );
        self.calls.sbatch.fetch_add(1, Ordering::Relaxed);
        let out = self.remote.exec(&cmd, self.timeout, true).await?;
        let text = out.stdout_text().trim().to_string();
        if !out.success() {
            return Err(SlurmError::TestOnlyRefused { text });
        }
        Ok(text)
    }

    /// One batched query for all `ids`: sacct with an explicit start time; when accounting is
    /// unavailable, squeue -t all, then scontrol, then `sacct -c` (jobcomp). A job that no
    /// source knows is simply absent from the result — never assumed finished.
    pub async fn poll(
        &self,
        ids: &[String],
        since_secs: u64,
    ) -> Result<BTreeMap<String, JobRecord>, SlurmError> {
        if ids.is_empty() {
            return Ok(BTreeMap::new());
        }
        if self.acct_known_down() {
            return self.poll_fallback(ids).await;
        }
        let list = ids.join(",");
        let start = format!("--starttime=now-{}", since_secs.max(3600));
        let cmd = format!(
            "sacct -X -D -P -n {start} -j {} -o JobIDRaw,State,ExitCode,Reason,Submit,Start,End,ElapsedRaw,NodeList,JobName%200,Suspended",
            sh(&[&list])
        );
        self.calls.sacct.fetch_add(1, Ordering::Relaxed);
        let out = self.remote.exec(&cmd, self.timeout, true).await?;
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        if out.success() && !accounting_unavailable(&err) {
            let recs = parse_sacct(&out.stdout_text(), RecordSource::Sacct);
            if ids.iter().all(|i| recs.contains_key(i)) {
                return self.check_requeued(recs).await;
            }
            // A job not yet (fully) in the accounting database: it was just submitted, or it
            // just ended and slurmdbd still shows its placeholder. Ask slurmctld.
            let missing: Vec<String> = ids
                .iter()
                .filter(|i| !recs.contains_key(*i))
                .cloned()
                .collect();
            let mut merged = recs;
            merged.extend(self.poll_fallback(&missing).await?);
            return self.check_requeued(merged).await;
        }
        crate::output::detail(format!(
            "sacct is not usable ({}); asking squeue instead for the next {}",
            out.stderr_summary(),
            humantime::format_duration(ACCT_RETRY)
        ));
        if let Ok(mut g) = self.acct_down_since.lock() {
            *g = Some(std::time::Instant::now());
        }
        self.poll_fallback(ids).await
    }

    /// Accounting says a job ended by a node failure or a preemption, or was requeued: Slurm
    /// may already have put it back in the queue (slurmdbd learns of that later). One squeue
    /// for those jobs: slurmctld's state and restart count win while it still knows the job.
    /// Costs nothing in the normal case (no such job, no call).
    async fn check_requeued(
        &self,
        mut recs: BTreeMap<String, JobRecord>,
    ) -> Result<BTreeMap<String, JobRecord>, SlurmError> {
        let ids: Vec<String> = recs
            .values()
            .filter(|r| r.source.is_accounting() && r.may_be_requeued())
            .map(|r| r.job_id.clone())
            .collect();
        if ids.is_empty() {
            return Ok(recs);
        }
        let live = self.squeue(&ids).await?;
        for (id, q) in live {
            if let Some(r) = recs.get_mut(&id) {
                merge_live(r, q);
            }
        }
        Ok(recs)
    }

    /// `squeue -t all` for `ids` (slurmctld's view); empty when squeue fails.
    async fn squeue(&self, ids: &[String]) -> Result<BTreeMap<String, JobRecord>, SlurmError> {
        let cmd = format!(
            "squeue -h -t all -j {} -O {}",
            sh(&[&ids.join(",")]),
            sh(&[SQUEUE_FORMAT])
        );
        self.calls.squeue.fetch_add(1, Ordering::Relaxed);
        let out = self.remote.exec(&cmd, self.timeout, true).await?;
        Ok(if out.success() {
            parse_squeue(&out.stdout_text())
        } else {
            BTreeMap::new()
        })
    }

    fn acct_known_down(&self) -> bool {
        let Ok(mut g) = self.acct_down_since.lock() else {
            return false;
        };
        match *g {
            Some(t) if t.elapsed() < ACCT_RETRY => true,
            Some(_) => {
                *g = None;
                false
            }
            None => false,
        }
    }

    async fn poll_fallback(
        &self,
        ids: &[String],
    ) -> Result<BTreeMap<String, JobRecord>, SlurmError> {
        let list = ids.join(",");
        let cmd = format!(
            "squeue -h -t all -j {} -O {}",
            sh(&[&list]),
            sh(&[SQUEUE_FORMAT])
        );
        self.calls.squeue.fetch_add(1, Ordering::Relaxed);
        let out = self.remote.exec(&cmd, self.timeout, true).await?;
        let mut recs = if out.success() {
            parse_squeue(&out.stdout_text())
        } else {
            BTreeMap::new()
        };
        // squeue and scontrol read the same job table in slurmctld: scontrol only helps when
        // squeue itself failed (an old squeue without `exit_code`, a transient error).
        for id in ids {
            let need = !out.success()
                && match recs.get(id) {
                    None => true,
                    Some(r) => r.state.is_final() && r.exit_code.is_none(),
                };
            if !need {
                continue;
            }
            self.calls.scontrol.fetch_add(1, Ordering::Relaxed);
            let o = self
                .remote
                .exec(
                    &format!("scontrol show job -o {}", sh(&[id])),
                    self.timeout,
                    true,
                )
                .await?;
            if o.success()
                && let Some(r) = parse_scontrol(&o.stdout_text())
            {
                recs.insert(id.clone(), r);
            }
        }
        // Aged out of slurmctld: the jobcomp text file (`sacct -c`) still knows finished jobs.
        let missing: Vec<&String> = ids.iter().filter(|i| !recs.contains_key(*i)).collect();
        if !missing.is_empty() {
            let l: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            self.calls.sacct.fetch_add(1, Ordering::Relaxed);
            let o = self
                .remote
                .exec(
                    &format!(
                        "sacct -c -n -P -j {} -o JobID,State,ExitCode",
                        sh(&[&l.join(",")])
                    ),
                    self.timeout,
                    true,
                )
                .await?;
            if o.success() {
                recs.extend(parse_sacct(&o.stdout_text(), RecordSource::JobComp));
            }
        }
        Ok(recs)
    }

    /// A job of ours by its unique job name: slurmctld's view, then accounting's (7 days).
    pub async fn find_by_name(&self, name: &str) -> Result<Option<String>, SlurmError> {
        self.calls.squeue.fetch_add(1, Ordering::Relaxed);
        let o = self
            .remote
            .exec(
                &format!(
                    "squeue -h -t all --name={} -o %i; sacct -X -n -P --starttime=now-7days --name={} -o JobIDRaw 2>/dev/null",
                    sh(&[name]),
                    sh(&[name])
                ),
                crate::remote::QUICK,
                true,
            )
            .await?;
        Ok(o.stdout_text()
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()))
            .map(str::to_string))
    }

    /// One `scancel` for all `ids`.
    pub async fn cancel(&self, ids: &[String]) -> Result<(), SlurmError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut words = vec!["scancel"];
        words.extend(ids.iter().map(String::as_str));
        self.calls.scancel.fetch_add(1, Ordering::Relaxed);
        let out = self.remote.exec(&sh(&words), self.timeout, true).await?;
        if !out.success() {
            return Err(SlurmError::ScancelFailed {
                why: out.stderr_summary(),
            });
        }
        Ok(())
    }
}
