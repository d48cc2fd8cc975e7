use super::*;

use regex::bytes::{Regex, RegexSet, RegexSetBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// ---------------------------------------------------------------------------------------------
// Configuration file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub(super) version: u32,
    pub(super) metrics: Vec<RawMetric>,
    pub(super) checks: RawChecks,
    #[serde(default)]
    pub(super) context: RawContext,
    #[serde(default)]
    pub(super) oom_signatures: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetric {
    pub(super) name: String,
    pub(super) pattern: Spanned<String>,
    #[serde(default)]
    pub(super) label: Option<String>,
    #[serde(default)]
    pub(super) required: bool,
    #[serde(default)]
    pub(super) unit: String,
    #[serde(default)]
    pub(super) column: Option<String>,
    pub(super) metric_type: String,
    #[serde(default)]
    pub(super) disagg_metric_type: Option<String>,
    #[serde(default = "yes")]
    pub(super) allow_zero: bool,
}

pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawChecks {
    pub(super) failed_requests: Spanned<String>,
    #[serde(default)]
    pub(super) successful_requests: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) total_requests: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) generated_tokens: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) failure_markers: Vec<String>,
    pub(super) block_header: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawContext {
    #[serde(default)]
    pub(super) num_prompts: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) concurrency: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) isl: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) osl: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) model: Option<Spanned<String>>,
}

/// A metric configuration that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the metrics file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("the metrics file {source_name} is not valid: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    #[error("the metrics file {source_name}, line {line} column {column}: {message}")]
    Field {
        source_name: String,
        line: u64,
        column: u64,
        message: String,
    },
    #[error("the metrics file {source_name} is not valid: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

/// One metric: what it is called, how it is found and how it is reported.
#[derive(Debug, Clone)]
pub struct MetricDef {
    pub info: Arc<MetricInfo>,
    pub pattern: String,
    pub label: Option<String>,
    pub allow_zero: bool,
    pub(super) regex: Regex,
    pub(super) slot: usize,
    pub(super) label_slot: Option<usize>,
}

/// Which pattern of the prefilter set matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Metric,
    Label,
    Check(Check),
    Context(Ctx),
    Marker(usize),
    Header,
    Oom(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    Failed,
    Successful,
    Total,
    Generated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ctx {
    NumPrompts,
    Concurrency,
    Isl,
    Osl,
    Model,
}

/// The compiled metric configuration.
#[derive(Debug, Clone)]
pub struct MetricConfig {
    /// Where it came from (a path or "built-in configs/metrics.yaml").
    pub source: String,
    pub(super) metrics: Vec<MetricDef>,
    pub(super) checks: Vec<(Check, Regex, usize)>,
    pub(super) context: Vec<(Ctx, Regex, usize)>,
    pub(super) markers: Vec<String>,
    pub(super) oom: Vec<String>,
    pub(super) header_slot: usize,
    pub(super) set: RegexSet,
    pub(super) slots: Vec<Slot>,
}

impl MetricConfig {
    /// The configuration embedded in the binary.
    pub fn builtin() -> Result<MetricConfig, ConfigError> {
        MetricConfig::from_yaml_str(BUILTIN_YAML, BUILTIN_NAME)
    }

    /// Load a metrics file (`--metrics FILE`).
    pub fn from_file(path: &Path) -> Result<MetricConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        MetricConfig::from_yaml_str(&text, &path.display().to_string())
    }

    /// Parse and compile a configuration; `source_name` names it in error messages.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<MetricConfig, ConfigError> {
        let raw: RawConfig = serde_saphyr::from_str(text).map_err(|e| ConfigError::Yaml {
            source_name: source_name.to_string(),
            message: first_line_of_yaml_error(&e.to_string()),
        })?;
        compile(raw, source_name)
    }

    pub fn metrics(&self) -> &[MetricDef] {
        &self.metrics
    }

    /// The metrics every client result must have (§8.1: the 16 required ones).
    pub fn required(&self) -> impl Iterator<Item = &MetricDef> {
        self.metrics.iter().filter(|m| m.info.required)
    }

    /// The literal log signatures that mean "out of memory".
    pub fn oom_signatures(&self) -> &[String] {
        &self.oom
    }

    /// A scanner for one stream (a client log or one test case's `<system-out>`).
    pub fn scanner(&self, mode: BlockMode) -> Scanner<'_> {
        Scanner::new(self, mode)
    }
}

pub(super) fn compile(raw: RawConfig, source_name: &str) -> Result<MetricConfig, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        source_name: source_name.to_string(),
        message,
    };
    if raw.version != 1 {
        return Err(invalid(format!(
            "it says `version: {}`, but this perf-run understands only version 1",
            raw.version
        )));
    }
    if raw.metrics.is_empty() {
        return Err(invalid("it lists no metrics".into()));
    }
    let mut patterns: Vec<String> = Vec::new();
    let mut slots: Vec<Slot> = Vec::new();
    let mut metrics = Vec::with_capacity(raw.metrics.len());
    let mut seen = std::collections::HashSet::new();
    for m in raw.metrics {
        if m.name.trim().is_empty() {
            return Err(invalid("a metric has an empty `name`".into()));
        }
        if !seen.insert(m.name.clone()) {
            return Err(invalid(format!(
                "the metric `{}` is listed twice; names must be unique",
                m.name
            )));
        }
        let what = format!("the pattern of metric `{}`", m.name);
        let regex = compile_one(&m.pattern, &what, source_name)?;
        let slot = patterns.len();
        patterns.push(m.pattern.value.clone());
        slots.push(Slot::Metric);
        let label_slot = match &m.label {
            Some(l) if !l.is_empty() => {
                patterns.push(regex::escape(l));
                slots.push(Slot::Label);
                Some(patterns.len() - 1)
            }
            _ => None,
        };
        let column = m.column.clone().unwrap_or_else(|| {
            if m.unit.is_empty() {
                m.name.clone()
            } else {
                format!("{}__{}", m.name, unit_suffix(&m.unit))
            }
        });
        metrics.push(MetricDef {
            info: Arc::new(MetricInfo {
                name: m.name,
                unit: m.unit,
                column,
                metric_type: m.metric_type,
                disagg_metric_type: m.disagg_metric_type,
                required: m.required,
            }),
            pattern: m.pattern.value,
            label: m.label,
            allow_zero: m.allow_zero,
            regex,
            slot,
            label_slot,
        });
    }

    let mut checks = Vec::new();
    let c = raw.checks;
    let check_list = [
        (
            Check::Failed,
            Some(c.failed_requests),
            "checks.failed_requests",
        ),
        (
            Check::Successful,
            c.successful_requests,
            "checks.successful_requests",
        ),
        (Check::Total, c.total_requests, "checks.total_requests"),
        (
            Check::Generated,
            c.generated_tokens,
            "checks.generated_tokens",
        ),
    ];
    for (kind, pat, what) in check_list {
        if let Some(p) = pat {
            let re = compile_one(&p, what, source_name)?;
            checks.push((kind, re, patterns.len()));
            patterns.push(p.value);
            slots.push(Slot::Check(kind));
        }
    }
    let mut context = Vec::new();
    let x = raw.context;
    let ctx_list = [
        (Ctx::NumPrompts, x.num_prompts, "context.num_prompts"),
        (Ctx::Concurrency, x.concurrency, "context.concurrency"),
        (Ctx::Isl, x.isl, "context.isl"),
        (Ctx::Osl, x.osl, "context.osl"),
        (Ctx::Model, x.model, "context.model"),
    ];
    for (kind, pat, what) in ctx_list {
        if let Some(p) = pat {
            let re = compile_one(&p, what, source_name)?;
            context.push((kind, re, patterns.len()));
            patterns.push(p.value);
            slots.push(Slot::Context(kind));
        }
    }
    let markers: Vec<String> = c
        .failure_markers
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    for (i, m) in markers.iter().enumerate() {
        patterns.push(regex::escape(m));
        slots.push(Slot::Marker(i));
    }
    if c.block_header.trim().is_empty() {
        return Err(invalid("`checks.block_header` is empty".into()));
    }
    let header_slot = patterns.len();
    patterns.push(regex::escape(&c.block_header));
    slots.push(Slot::Header);
    let oom: Vec<String> = raw
        .oom_signatures
        .into_iter()
        .filter(|m| !m.is_empty())
        .collect();
    for (i, m) in oom.iter().enumerate() {
        patterns.push(regex::escape(m));
        slots.push(Slot::Oom(i));
    }
    let set = RegexSetBuilder::new(&patterns)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| invalid(format!("its patterns together are too complex: {e}")))?;
    Ok(MetricConfig {
        source: source_name.to_string(),
        metrics,
        checks,
        context,
        markers,
        oom,
        header_slot,
        set,
        slots,
    })
}

pub(super) fn compile_one(
    p: &Spanned<String>,
    what: &str,
    source_name: &str,
) -> Result<Regex, ConfigError> {
    let field = |message: String| ConfigError::Field {
        source_name: source_name.to_string(),
        line: p.referenced.line(),
        column: p.referenced.column(),
        message,
    };
    let re = Regex::new(&p.value).map_err(|e| {
        field(format!(
            "{what} is not a valid regular expression: {}",
            one_line(&e.to_string())
        ))
    })?;
    // captures_len counts the implicit whole-match group.
    if re.captures_len() != 2 {
        return Err(field(format!(
            "{what} must have exactly one capture group (the value), it has {}",
            re.captures_len() - 1
        )));
    }
    Ok(re)
}

/// serde-saphyr prints `error: line 4 column 5: …` plus a source snippet; keep the sentence.
pub(super) fn first_line_of_yaml_error(s: &str) -> String {
    let first = s.lines().next().unwrap_or(s).trim();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `req/s` → `req_per_s`, `ms` → `ms`, `tokens/iter` → `tokens_per_iter`.
pub(super) fn unit_suffix(unit: &str) -> String {
    unit.replace('/', "_per_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}
