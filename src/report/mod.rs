//! The report people read (issue #11): `report.html`, `report.css` and `report.json` (the same
//! data), rendering fully under Jenkins' default Content-Security-Policy.
