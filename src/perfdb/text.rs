//! Bounded text for the `log` column: a row must fit in one MySQL packet, so a long log keeps
//! its head and its end ([`crate::results::lines::CappedText`]). Used by the JUnit log lookup
//! (`junit`) and the plan (`plan`).

/// Largest `log` kept per row. MySQL's default `max_allowed_packet` is 16 MiB (64 MiB on
/// MySQL 8) and a multi-row INSERT must fit in one packet; a longer log keeps its first
/// eighth and its end (where the benchmark result and errors are), with a marker between.
pub const LOG_CAP: usize = 4 << 20;
