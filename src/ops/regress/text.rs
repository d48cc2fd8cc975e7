use super::*;

use crate::judge::{Judgement, Stage, Verdict, needs_attention};

/// How a verdict line names its series: test, network when it differs, GPU, cluster.
pub(super) fn label(j: &Judgement) -> String {
    let mut out = j.test_name.clone();
    if !j.network_name.eq_ignore_ascii_case(&j.test_name) {
        out.push_str(&format!(" ({})", j.network_name));
    }
    let gpu = if j.gpu_type.is_empty() {
        "unknown GPU".to_string()
    } else {
        j.gpu_type.clone()
    };
    out.push_str(&format!(" [{gpu}"));
    if j.gpu_count > 0 {
        out.push_str(&format!(" × {}", j.gpu_count));
    }
    if !j.cluster.is_empty() {
        out.push_str(&format!(", {}", j.cluster));
    }
    out.push(']');
    out
}

pub(super) fn line(j: &Judgement) -> String {
    format!("{:<17} {}: {}", j.verdict.as_str(), label(j), j.explanation)
}

/// The human view: one line per series needing attention (worst first), the count of every
/// verdict, then the other series with their explanations.
pub fn human(judgements: &[Judgement], run: Option<&ResolvedRun>, stage: Stage) -> String {
    let rank = |v: Verdict| match v {
        Verdict::Regression => 0,
        Verdict::Suspect => 1,
        Verdict::NotComparable => 2,
        Verdict::Unstable => 3,
        Verdict::Improved => 4,
        Verdict::Ok => 5,
        Verdict::InsufficientData => 6,
    };
    let mut sorted: Vec<&Judgement> = judgements.iter().collect();
    sorted.sort_by_key(|j| rank(j.verdict));
    let mut out = String::new();
    for j in sorted.iter().filter(|j| needs_attention(j)) {
        out.push_str(&line(j));
        out.push('\n');
    }
    let order = [
        Verdict::Regression,
        Verdict::Suspect,
        Verdict::NotComparable,
        Verdict::Unstable,
        Verdict::Ok,
        Verdict::Improved,
        Verdict::InsufficientData,
    ];
    let counts: Vec<String> = order
        .iter()
        .map(|v| {
            let n = judgements.iter().filter(|j| j.verdict == *v).count();
            format!("{n} {}", v.as_str())
        })
        .collect();
    out.push_str(&format!(
        "{} series judged{} ({}): {}.\n",
        judgements.len(),
        run.map(|r| format!(" as of run {}", r.label))
            .unwrap_or_default(),
        match stage {
            Stage::PreMerge => "pre-merge",
            Stage::PostMerge => "post-merge",
        },
        counts.join(", ")
    ));
    for j in sorted.iter().filter(|j| !needs_attention(j)) {
        out.push_str(&line(j));
        out.push('\n');
    }
    out
}
