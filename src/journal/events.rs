//! Journal events (filled in by the job lifecycle).
