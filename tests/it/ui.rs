use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataforge::ui::DataforgeApp;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use crate::common::{TestWorkspace, shared};

/// A file "dropped" on the window, as the OS delivers it: a path only.
#[derive(Debug)]
struct DroppedPath(PathBuf);

impl egui::DroppedFile for DroppedPath {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        Err("the app must not read dropped files into memory".into())
    }
}

fn harness(t: &TestWorkspace) -> Harness<'static, DataforgeApp> {
    let ws = t.ws.clone();
    Harness::builder()
        .with_size([1280.0, 800.0])
        .build_eframe(move |cc| DataforgeApp::new(cc, ws, Vec::new()).expect("app"))
}

fn drop_file(harness: &mut Harness<'_, DataforgeApp>, path: PathBuf) {
    harness.input_mut().dropped_files.push(Arc::new(DroppedPath(path)));
}

fn has(h: &Harness<'_, DataforgeApp>, label: &str) -> bool {
    h.query_all_by_label(label).next().is_some()
}

fn has_text(h: &Harness<'_, DataforgeApp>, part: &str) -> bool {
    h.query_all_by_label_contains(part).next().is_some()
}

/// Steps the app (background work keeps it repainting) until `found` holds.
fn step_until(harness: &mut Harness<'_, DataforgeApp>, what: &str, found: impl Fn(&Harness<'_, DataforgeApp>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !found(harness) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dropping_a_file_shows_progress_then_the_table() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    h.step();
    assert!(has_text(&h, "Drop a CSV"), "welcome screen");

    drop_file(&mut h, shared().join("realdata/nycflights13/flights.csv.gz"));
    h.step();
    step_until(&mut h, "the running job", |h| has(h, "Import flights.csv.gz") && has(h, "Running"));
    assert!(has(&h, "Cancel"));
    step_until(&mut h, "progress figures", |h| has_text(h, " of 7.8 MB") || has(h, "Done"));

    step_until(&mut h, "the job to finish", |h| has(h, "Done"));
    step_until(&mut h, "the table header", |h| has(h, "336,776 rows"));
    // First row of flights: 2013-01-01, carrier UA, flight 1545, origin EWR.
    step_until(&mut h, "the first rows", |h| has(h, "1545"));
    assert!(has(&h, "UA"));
    assert!(has_text(&h, "336,776 rows · 19 columns"), "catalog entry");
    assert_eq!(h.state().state.selected.as_deref(), Some("flights"));
}

#[test]
fn a_broken_drop_shows_a_plain_error_and_no_table() {
    let t = TestWorkspace::new();
    let mut csv = String::from("item,price\n");
    for i in 0..30_000 {
        csv.push_str(&format!("apple{i},{i}\n"));
    }
    csv.push_str("fig,cheap\n");
    let bad = crate::common::write_file(t.dir.path(), "prices.csv", &csv);
    let mut h = harness(&t);
    drop_file(&mut h, bad);
    h.step();
    step_until(&mut h, "the failure", |h| has(h, "Failed"));
    let message = "prices.csv: line 30002, column \"price\"";
    step_until(&mut h, "the message", |h| has_text(h, message));
    assert!(h.state().state.tables.is_empty());
    assert!(t.ws.tables().unwrap().is_empty());
}

#[test]
fn clicking_a_header_sorts_the_table() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    h.get_by_label("penguins").click();
    h.step();
    step_until(&mut h, "the first rows", |h| has(h, "Torgersen"));
    h.get_by_label("body_mass_g").click();
    h.step();
    step_until(&mut h, "the sort", |h| has_text(h, "Sorted by body_mass_g"));
    // Lightest penguin first: 2700 g.
    step_until(&mut h, "sorted rows", |h| has(h, "2700"));
}
