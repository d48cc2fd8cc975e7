//! The report people read (issue #11): `report.html`, `report.css` and `report.json` (the same
//! data), rendering fully under Jenkins' default Content-Security-Policy.

mod error;
pub mod html;
pub mod model;
pub mod svg;

pub use error::ReportError;
pub use html::{Written, write, write_for_run};
pub use model::ReportData;
