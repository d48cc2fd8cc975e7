//! The validity gate: turn one scanned result block into a client result that is either `valid`
//! or `invalid` with reasons a person can act on. Never a silent number.
//!
//! Checks (reference §8.1 and the issue): every required metric present; values are numbers,
//! not negative, and not zero where zero means nothing was measured; `Failed requests` > 0;
//! the `!FAILED REQUESTS!` / `!CHECK LOG FOR ERRORS!` markers; `Successful requests` below
//! `num_prompts`; zero generated tokens. Contradictory duplicate lines are warnings (the first
//! value is kept, §8.1).

use super::metrics::{Block, MetricConfig, fmt_num};
use super::model::{ClientCounts, ClientMeta, ClientResult, MetricSource, MetricValue, Validity};

/// Who a client is, for messages and for the result.
#[derive(Debug, Clone, Default)]
pub struct ClientId {
    pub server: String,
    pub client: String,
    pub server_idx: usize,
    pub client_idx: usize,
    pub meta: Option<ClientMeta>,
}

impl ClientId {
    pub fn label(&self) -> String {
        format!("{}/{}", self.server, self.client)
    }
}

/// Judge one block. `block == None` means no result block was found for this client;
/// `missing_why` then says where we looked.
pub fn judge(
    id: &ClientId,
    block: Option<&Block>,
    cfg: &MetricConfig,
    source: MetricSource,
    missing_why: &str,
) -> ClientResult {
    let who = format!("client {}", id.label());
    let mut reasons = Vec::new();
    let mut warnings = Vec::new();
    let mut metrics = Vec::new();
    let mut counts = ClientCounts::default();
    let meta = id.meta.as_ref();
    let mut result = ClientResult {
        server: id.server.clone(),
        client: id.client.clone(),
        server_idx: id.server_idx,
        client_idx: id.client_idx,
        validity: Validity::Invalid,
        reasons: Vec::new(),
        warnings: Vec::new(),
        metrics: Vec::new(),
        counts: ClientCounts::default(),
        source,
        concurrency: meta.map(|m| m.concurrency),
        iterations: meta.map(|m| m.iterations),
        isl: meta.map(|m| m.isl),
        osl: meta.map(|m| m.osl),
        model: None,
    };

    let Some(b) = block else {
        reasons.push(format!("{who} has no benchmark result: {missing_why}"));
        result.reasons = reasons;
        return result;
    };

    // Facts from the printed arguments fill what the plan did not say.
    result.concurrency = result.concurrency.or(b.concurrency);
    result.isl = result.isl.or(b.isl);
    result.osl = result.osl.or(b.osl);
    result.model = b.model.clone();
    counts.total_requests = b.total_requests;
    counts.successful_requests = b.successful_requests;
    counts.failed_requests = b.failed_requests;
    counts.generated_tokens = b.generated_tokens;
    counts.num_prompts = b.num_prompts;

    let mut missing = Vec::new();
    for (i, def) in cfg.metrics().iter().enumerate() {
        let info = &def.info;
        match (
            b.values.get(i).copied().flatten(),
            b.bad_values.get(i).cloned().flatten(),
        ) {
            (Some(found), _) => {
                let v = found.value;
                if v < 0.0 {
                    reasons.push(format!(
                        "{who} reported a negative {} ({} {}) on line {}",
                        info.name,
                        fmt_num(v),
                        info.unit,
                        found.line
                    ));
                } else if v == 0.0 && !def.allow_zero {
                    reasons.push(format!(
                        "{who} reported {} = 0 {}, so nothing was measured",
                        info.name, info.unit
                    ));
                }
                metrics.push(MetricValue {
                    info: info.clone(),
                    value: v,
                });
            }
            (None, Some((text, line))) => {
                if info.required {
                    reasons.push(format!(
                        "{who} printed `{text}` for {} on line {}, which is not a number",
                        info.name, line
                    ));
                } else {
                    warnings.push(format!(
                        "{who} printed `{text}` for the optional metric {} on line {}, which is not a number",
                        info.name, line
                    ));
                }
            }
            (None, None) => {
                if info.required {
                    missing.push(info.name.clone());
                }
            }
        }
    }
    if !missing.is_empty() {
        let n = missing.len();
        let total = cfg.required().count();
        let hint = if n == total {
            if b.headers > 0 {
                " (the result block is empty or cut off)".to_string()
            } else {
                " (no `Serving Benchmark Result` block was printed)".to_string()
            }
        } else {
            " (the output may be truncated)".to_string()
        };
        reasons.push(format!(
            "{who} is missing {n} of {total} required metrics: {}{hint}",
            missing.join(", ")
        ));
    }
    if let Some(f) = b.failed_requests.filter(|&f| f > 0) {
        let s = if f == 1 { "" } else { "s" };
        reasons.push(format!("{who} reported {f} failed request{s}"));
    }
    // The markers and a short success count follow from failed requests; say it once.
    let failed = b.failed_requests.unwrap_or(0) > 0;
    for m in b.markers.iter().filter(|_| !failed) {
        reasons.push(format!("{who} printed the failure marker `{m}`"));
    }
    if let (Some(ok), Some(want)) = (b.successful_requests, b.num_prompts)
        && ok < want
        && !failed
    {
        reasons.push(format!(
            "{who} completed only {ok} of {want} requests (num_prompts={want})"
        ));
    }
    if b.generated_tokens == Some(0) {
        reasons.push(format!("{who} generated 0 tokens"));
    }
    if b.headers > 1 {
        warnings.push(format!(
            "{who} printed {} result blocks; the first value of each metric is used (§8.1)",
            b.headers
        ));
    }
    for c in &b.contradictions {
        warnings.push(format!("{who}: {c}"));
    }
    if b.more_contradictions > 0 {
        warnings.push(format!(
            "{who}: {} more contradictory duplicate lines were not listed",
            b.more_contradictions
        ));
    }

    result.validity = if reasons.is_empty() {
        Validity::Valid
    } else {
        Validity::Invalid
    };
    result.reasons = reasons;
    result.warnings = warnings;
    result.metrics = metrics;
    result.counts = counts;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::metrics::{BlockMode, scan_bytes};

    const DOCS: &str = include_str!(
        "../../tests/fixtures/trtllm/benchmark-output/benchmark_serving_output_docs_example.txt"
    );

    fn cfg() -> MetricConfig {
        MetricConfig::builtin().expect("built-in config")
    }

    fn id() -> ClientId {
        ClientId {
            server: "server0".into(),
            client: "con32_iter10_1k1k".into(),
            ..ClientId::default()
        }
    }

    fn judge_text(text: &str) -> ClientResult {
        let c = cfg();
        let out = scan_bytes(text.as_bytes(), &c, BlockMode::Merge);
        judge(
            &id(),
            out.blocks.first(),
            &c,
            MetricSource::Missing,
            "nothing",
        )
    }

    #[test]
    fn docs_example_is_valid_without_failed_requests_line() {
        let r = judge_text(DOCS);
        assert_eq!(r.validity, Validity::Valid, "{:?}", r.reasons);
        assert_eq!(r.metrics.len(), 16);
        assert_eq!(r.metric("seq_throughput"), Some(0.61));
    }

    #[test]
    fn failed_requests_make_it_invalid_with_a_sentence() {
        let r = judge_text(&format!(
            "{DOCS}Failed requests:                         3         \n"
        ));
        assert_eq!(r.validity, Validity::Invalid);
        assert!(
            r.reasons
                .iter()
                .any(|x| x == "client server0/con32_iter10_1k1k reported 3 failed requests"),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn zero_failed_requests_is_fine() {
        let r = judge_text(&format!("{DOCS}Failed requests:   0   \n"));
        assert_eq!(r.validity, Validity::Valid, "{:?}", r.reasons);
    }

    #[test]
    fn markers_alone_make_it_invalid() {
        let r = judge_text(&format!(
            "{DOCS}=====================!CHECK LOG FOR ERRORS!====================\n"
        ));
        assert_eq!(r.validity, Validity::Invalid);
        assert!(r.reasons[0].contains("!CHECK LOG FOR ERRORS!"));
    }

    #[test]
    fn zero_generated_tokens_is_invalid() {
        let text = DOCS
            .replace(
                "Total generated tokens:                  1024",
                "Total generated tokens:                  0",
            )
            .replace("622.56", "0.00");
        let r = judge_text(&text);
        assert_eq!(r.validity, Validity::Invalid);
        assert!(
            r.reasons.iter().any(|x| x.ends_with("generated 0 tokens")),
            "{:?}",
            r.reasons
        );
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("token_throughput = 0 tok/s")),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn missing_metrics_are_listed() {
        let cut: String = DOCS.lines().take(12).map(|l| format!("{l}\n")).collect();
        let r = judge_text(&cut);
        assert_eq!(r.validity, Validity::Invalid);
        assert!(
            r.reasons[0].contains("is missing 12 of 16 required metrics"),
            "{:?}",
            r.reasons
        );
        assert!(r.reasons[0].contains("truncated"));
    }

    #[test]
    fn no_block_says_where_we_looked() {
        let c = cfg();
        let r = judge(&id(), None, &c, MetricSource::Missing, "no file x.log");
        assert_eq!(r.validity, Validity::Invalid);
        assert_eq!(
            r.reasons,
            ["client server0/con32_iter10_1k1k has no benchmark result: no file x.log"]
        );
    }

    #[test]
    fn nan_and_negative_values_are_invalid() {
        let text = DOCS
            .replace(
                "Mean TTFT (ms):                          12.83",
                "Mean TTFT (ms):                          nan",
            )
            .replace(
                "P99 E2EL (ms):                           1643.44",
                "P99 E2EL (ms):                           -1.00",
            );
        let r = judge_text(&text);
        assert_eq!(r.validity, Validity::Invalid);
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("printed `nan` for mean_ttft")),
            "{:?}",
            r.reasons
        );
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("negative p99_e2el (-1 ms)")),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn fewer_successful_than_prompts_is_invalid() {
        let r = judge_text(&format!("Namespace(num_prompts=5)\n{DOCS}"));
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("completed only 1 of 5 requests")),
            "{:?}",
            r.reasons
        );
    }

    #[test]
    fn contradictions_are_warnings_not_reasons() {
        let r = judge_text(&format!("{DOCS}Mean TTFT (ms): 99.5\n"));
        assert_eq!(r.validity, Validity::Valid);
        assert_eq!(r.metric("mean_ttft"), Some(12.83));
        assert!(
            r.warnings.iter().any(|w| w.contains("printed twice")),
            "{:?}",
            r.warnings
        );
    }
}
