//! The run key: a deterministic id of one run's upload, stored in every `perf_result.UUID`
//! of the run, so that uploading the same run twice inserts nothing the second time.
//!
//! `--run-key KEY` is used as given. Otherwise the key is the lower-case hex SHA-256 of the
//! compact JSON array
//!
//! ```text
//! ["perf-run run key v1", link, commit, [job ids, sorted], [test ids, sorted], start time]
//! ```
//!
//! where link and commit are `--link` / `--commit` (or their fallbacks), job ids come from
//! `summary.json` (`cases[].job.job_id`), test ids from `summary.json` (`cases[].test_id`) or,
//! without one, the distinct `test_name`s of the metric CSV, and the start time is the run's
//! normalised `YYYY-MM-DD HH:MM:SS` (empty when unknown). JSON makes the encoding unambiguous.
//! When link, commit, job ids and start time are all empty, two different runs of the same
//! tests would collide, so the digest of the uploaded values is appended to the array.

use sha2::{Digest, Sha256};

use super::rows::ResultRow;

#[derive(Debug, Clone, Default)]
pub struct KeyParts {
    pub link: String,
    pub commit: String,
    pub job_ids: Vec<String>,
    pub test_ids: Vec<String>,
    pub start_time: String,
}

impl KeyParts {
    /// Nothing in the key tells two runs of the same tests apart.
    pub fn is_weak(&self) -> bool {
        self.link.is_empty()
            && self.commit.is_empty()
            && self.job_ids.is_empty()
            && self.start_time.is_empty()
    }

    pub fn derive(&self, content_digest: Option<&str>) -> String {
        let mut jobs = self.job_ids.clone();
        jobs.sort();
        jobs.dedup();
        let mut tests = self.test_ids.clone();
        tests.sort();
        tests.dedup();
        let mut arr = vec![
            serde_json::Value::from("perf-run run key v1"),
            self.link.clone().into(),
            self.commit.clone().into(),
            jobs.into(),
            tests.into(),
            self.start_time.clone().into(),
        ];
        if let Some(d) = content_digest {
            arr.push(d.into());
        }
        let text = serde_json::Value::Array(arr).to_string();
        hex::encode(Sha256::digest(text.as_bytes()))
    }

    pub fn describe(&self, weak: bool) -> String {
        let mut parts = Vec::new();
        if !self.link.is_empty() {
            parts.push("link".to_string());
        }
        if !self.commit.is_empty() {
            parts.push("commit".to_string());
        }
        if !self.job_ids.is_empty() {
            parts.push(format!("{} job id(s)", self.job_ids.len()));
        }
        parts.push(format!("{} test id(s)", self.test_ids.len()));
        if !self.start_time.is_empty() {
            parts.push("start time".to_string());
        }
        if weak {
            parts.push("the uploaded values".to_string());
        }
        format!("sha256 of {}", parts.join(", "))
    }
}

/// Digest of the rows to upload (only used for weak keys).
pub fn content_digest(results: &[ResultRow]) -> String {
    let mut h = Sha256::new();
    for r in results {
        let c = &r.case;
        for part in [
            c.format.as_str(),
            c.network.as_str(),
            &c.batchsize.to_string(),
            c.precision.as_str(),
            c.cmd.as_str(),
            r.perf_data.as_str(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> KeyParts {
        KeyParts {
            link: "https://ci/job/1".into(),
            commit: "abc123".into(),
            job_ids: vec!["20".into(), "10".into()],
            test_ids: vec!["t2".into(), "t1".into()],
            start_time: "2025-10-31 00:53:53".into(),
        }
    }

    #[test]
    fn deterministic_and_order_independent() {
        let a = parts().derive(None);
        let mut p = parts();
        p.job_ids.reverse();
        p.test_ids.reverse();
        assert_eq!(a, p.derive(None));
        assert_eq!(a.len(), 64);
        // documented recipe
        let text = r#"["perf-run run key v1","https://ci/job/1","abc123",["10","20"],["t1","t2"],"2025-10-31 00:53:53"]"#;
        assert_eq!(a, hex::encode(Sha256::digest(text.as_bytes())));
    }

    #[test]
    fn every_part_matters() {
        let base = parts().derive(None);
        let mut p = parts();
        p.link.push('x');
        assert_ne!(base, p.derive(None));
        let mut p = parts();
        p.start_time = "2025-10-31 00:53:54".into();
        assert_ne!(base, p.derive(None));
        let mut p = parts();
        p.job_ids.push("30".into());
        assert_ne!(base, p.derive(None));
        assert_ne!(base, parts().derive(Some("d")));
    }

    #[test]
    fn weak_keys() {
        let p = KeyParts {
            test_ids: vec!["t".into()],
            ..Default::default()
        };
        assert!(p.is_weak());
        assert!(!parts().is_weak());
        assert!(p.describe(true).contains("uploaded values"));
    }
}
