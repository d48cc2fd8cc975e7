//! Watching jobs: event stream + safety poll + progress display.
pub mod progress;
