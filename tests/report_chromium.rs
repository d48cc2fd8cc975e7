//! The report in a real headless Chromium (Debian package `chromium`) under Jenkins'
//! Content-Security-Policy: a screenshot that is not blank, the stylesheet and the inline SVG
//! really applied, and no CSP violation on the console. A page with an inline `style=` and a
//! `<style>` element proves the violation detection works.
//!
//! Two ways the policy is applied:
//! * `file://` — the page's own `<meta http-equiv="Content-Security-Policy">` (the report
//!   always carries Jenkins' policy minus `sandbox`, which a `<meta>` cannot carry);
//! * `http://` — a local server sends Jenkins' exact default header
//!   `sandbox; default-src 'none'; img-src 'self'; style-src 'self';`, as Jenkins serves
//!   archived artifacts.
//!
//! Without Chromium the tests skip loudly, unless `CI` is set: then a missing Chromium fails.
//! Screenshots are kept under `target/tmp/report-chromium/` and their paths printed.

mod report_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use perf_run::report::{self, ReportData};
use report_support::*;

/// Jenkins' default CSP for archived files (jenkins.io, "Configuring Content Security Policy").
const JENKINS_CSP: &str = "sandbox; default-src 'none'; img-src 'self'; style-src 'self';";

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"]
        .iter()
        .find_map(|n| which::which(n).ok());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!(
                "Chromium is not installed and CI is set: install the Debian package `chromium` (apt-get install -y chromium)"
            );
        }
        eprintln!(
            "\n\n!!!!! SKIPPED: no chromium on PATH; the report was NOT checked in a browser. Install it with `apt-get install -y chromium`. !!!!!\n\n"
        );
    }
    found
}

fn out_dir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("report-chromium")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Screenshot `url` into `png`; returns Chromium's stderr (its console log).
fn shoot(chromium: &Path, url: &str, png: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .arg("--headless")
        .arg("--no-sandbox")
        .arg("--disable-gpu")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg("--window-size=1400,2000")
        .arg("--hide-scrollbars")
        .arg("--enable-logging=stderr")
        .arg("--v=0")
        .arg(url)
        .output()
        .expect("run chromium");
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {log}");
    assert!(png.is_file(), "no screenshot at {}: {log}", png.display());
    println!("screenshot: {}", png.display());
    log
}

/// The CSP complaints in Chromium's log ("Refused to …", "… violates the following Content
/// Security Policy directive …").
fn csp_lines(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("Refused to") || l.contains("Content Security Policy"))
        .collect()
}

/// Pixels of a screenshot: (share of non-white pixels, distinct colours, has colour `rgb`).
struct Pixels {
    nonwhite: f64,
    colours: usize,
    rgb: Vec<[u8; 3]>,
}

fn pixels(png: &Path) -> Pixels {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(
        step >= 3,
        "unexpected PNG colour type {:?}",
        info.color_type
    );
    let bytes = &buf[..info.buffer_size()];
    let mut rgb: Vec<[u8; 3]> = bytes
        .chunks_exact(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let nonwhite = rgb.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / rgb.len() as f64;
    rgb.sort_unstable();
    rgb.dedup();
    Pixels {
        nonwhite,
        colours: rgb.len(),
        rgb,
    }
}

impl Pixels {
    fn has(&self, c: [u8; 3]) -> bool {
        self.rgb.binary_search(&c).is_ok()
    }
}

/// The full page: two runs compared (one with a failed case whose id is hostile markup),
/// with history and verdicts.
fn full_report(dir: &Path) -> PathBuf {
    let root = dir.join("inputs");
    let t = tree();
    let mut a = RunSpec::new("run-a", 1.0, "nvcr.io/nvidia/tensorrt-llm/release:1.2.0");
    a.invalid_client = true;
    a.hostile = true;
    let b = RunSpec::new("run-b", 0.9, "nvcr.io/nvidia/tensorrt-llm/release:1.3.0rc1");
    let ra = make_run(&root, t.path(), &a);
    let rb = make_run(&root, t.path(), &b);
    let mut series = Vec::new();
    let mut verdicts = Vec::new();
    for (i, c) in AGG_CONCURRENCY.iter().enumerate() {
        let step = if *c == 8 { 86 } else { 90 };
        let (s, j) =
            report_support::series(&agg_case(), i, *c, "token_throughput", 90, step, -12.0);
        series.push(s);
        verdicts.push(j);
    }
    let data = ReportData::from_runs(&[ra, rb], &series, &verdicts).unwrap();
    let page = dir.join("report");
    report::write(&page, &data).unwrap();
    page
}

fn check_rendered(log: &str, png: &Path) {
    let bad = csp_lines(log);
    assert!(
        bad.is_empty(),
        "CSP violations in the console:\n{}",
        bad.join("\n")
    );
    let px = pixels(png);
    println!(
        "screenshot {}: {:.1} % non-white, {} colours",
        png.display(),
        px.nonwhite * 100.0,
        px.colours
    );
    assert!(
        px.nonwhite > 0.03,
        "the screenshot is (nearly) blank: {:.2} %",
        px.nonwhite * 100.0
    );
    assert!(
        px.colours > 50,
        "the screenshot has only {} colours",
        px.colours
    );
    // report.css applied: the passed badge's background (#e3f4e8) is on screen.
    assert!(px.has([0xe3, 0xf4, 0xe8]), "report.css was not applied");
    // Inline SVG rendered: run A's swatch colour (#0072b2) is on screen.
    assert!(px.has([0x00, 0x72, 0xb2]), "inline SVG was not rendered");
}

#[test]
fn report_renders_under_the_csp_meta_from_file() {
    let Some(chromium) = chromium() else { return };
    let dir = out_dir("file");
    let page = full_report(&dir);
    let html = std::fs::read_to_string(page.join("report.html")).unwrap();
    assert!(html.contains(&format!(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"{}\">",
        report::html::CSP_META
    )));
    let png = dir.join("report.png");
    let log = shoot(
        &chromium,
        &format!("file://{}", page.join("report.html").display()),
        &png,
    );
    check_rendered(&log, &png);
    // The hostile test id ran no script: a script would have logged or altered the page;
    // the only evidence we need is that no markup from it reached the page.
    assert!(!html.contains("<script"));
}

#[test]
fn report_renders_under_jenkins_header_over_http() {
    let Some(chromium) = chromium() else { return };
    let dir = out_dir("http");
    let page = full_report(&dir);
    let url = serve(&page);
    let png = dir.join("report.png");
    let log = shoot(&chromium, &format!("{url}/report.html"), &png);
    check_rendered(&log, &png);
}

#[test]
fn an_inline_style_is_caught() {
    let Some(chromium) = chromium() else { return };
    let dir = out_dir("negative");
    let root = dir.join("inputs");
    let t = tree();
    let run = make_run(&root, t.path(), &RunSpec::new("run-a", 1.0, "img:1"));
    let page = dir.join("report");
    report::write_for_run(&run, &[], &[]).unwrap();
    std::fs::create_dir_all(&page).unwrap();
    for f in ["report.css", "report.json"] {
        std::fs::copy(run.join("results").join(f), page.join(f)).unwrap();
    }
    let html = std::fs::read_to_string(run.join("results/report.html")).unwrap();
    // Deliberate violations: an inline style attribute, then a <style> element.
    let attr = html.replacen("<h1>", "<h1 style=\"color: red\">", 1);
    assert_ne!(attr, html);
    std::fs::write(page.join("report.html"), &attr).unwrap();
    let png = dir.join("report-style-attr.png");
    let log = shoot(
        &chromium,
        &format!("file://{}", page.join("report.html").display()),
        &png,
    );
    let caught = csp_lines(&log);
    println!("caught: {caught:#?}");
    assert!(
        !caught.is_empty(),
        "an inline style= went unnoticed:\n{log}"
    );
    // The same page with a <style> element, served with Jenkins' header.
    let element = html.replacen("</head>", "<style>h1 { color: red }</style></head>", 1);
    std::fs::write(page.join("report.html"), &element).unwrap();
    let url = serve(&page);
    let png = dir.join("report-style-element.png");
    let log = shoot(&chromium, &format!("{url}/report.html"), &png);
    assert!(
        !csp_lines(&log).is_empty(),
        "a <style> element went unnoticed:\n{log}"
    );
    // The blank-page check can fail: an empty page is caught.
    std::fs::write(
        page.join("blank.html"),
        "<!DOCTYPE html><html><body></body></html>",
    )
    .unwrap();
    let png = dir.join("blank.png");
    shoot(
        &chromium,
        &format!("file://{}", page.join("blank.html").display()),
        &png,
    );
    let px = pixels(&png);
    assert!(
        px.nonwhite < 0.03 && px.colours <= 50,
        "a blank page passed as not blank"
    );
    // And our own checker agrees.
    assert!(report::svg::csp_violation(&attr).is_some());
    assert!(report::svg::csp_violation(&element).is_some());
}

/// Serve the files of `dir` on 127.0.0.1 with Jenkins' CSP header, in a background thread
/// that lives as long as the test process.
fn serve(dir: &Path) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(s) = stream else { continue };
            let dir = dir.clone();
            // One thread per connection: Chromium opens speculative connections that never
            // send a request, and they must not hold up the real ones.
            std::thread::spawn(move || answer(s, &dir));
        }
    });
    format!("http://{addr}")
}

fn answer(mut s: std::net::TcpStream, dir: &Path) {
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    {
        {
            let mut line = String::new();
            let mut r = BufReader::new(s.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                return;
            }
            // Drain the headers.
            let mut h = String::new();
            while r.read_line(&mut h).is_ok_and(|n| n > 2) {
                h.clear();
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/");
            let name = path.trim_start_matches('/').split('?').next().unwrap_or("");
            let file = (!name.contains("..") && !name.is_empty())
                .then(|| dir.join(name))
                .filter(|p| p.is_file());
            let resp = match file {
                Some(p) => {
                    let body = std::fs::read(&p).unwrap();
                    let ctype = match p.extension().and_then(|e| e.to_str()) {
                        Some("html") => "text/html; charset=utf-8",
                        Some("css") => "text/css",
                        Some("json") => "application/json",
                        _ => "application/octet-stream",
                    };
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nContent-Security-Policy: {JENKINS_CSP}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = s.write_all(&resp);
        }
    }
}
