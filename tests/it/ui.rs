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

/// Waits for the import window's preview, then presses its Import button.
fn confirm_import(h: &mut Harness<'_, DataforgeApp>) {
    step_until(h, "the import window", |h| h.state().state.import.is_some());
    step_until(h, "the preview", |h| h.state().state.import.as_ref().is_some_and(|d| d.preview.is_some()));
    h.get_by_label("Import").click();
    h.step();
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
        if Instant::now() > deadline {
            let grid = &harness.state().state.grid;
            panic!("timed out waiting for {what} (row window at {}, first visible row {})", grid.window_base, grid.first_visible);
        }
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dropping_a_file_shows_progress_then_the_table() {
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    h.step();
    assert!(has_text(&h, "Drop CSV, Excel, JSON, Parquet or Arrow files"), "welcome screen");

    drop_file(&mut h, shared().join("realdata/nycflights13/flights.csv.gz"));
    h.step();
    step_until(&mut h, "the preview rows", |h| has(h, "1545") && has_text(h, "First 50 rows"));
    assert!(has(&h, "carrier"), "column names in the preview");
    confirm_import(&mut h);
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
    for _ in 0..5 {
        h.step();
    }
    assert!(h.state().state.notices.is_empty(), "{:?}", h.state().state.notices);
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
    step_until(&mut h, "the preview", |h| has(h, "apple0"));
    // The user says the price is a number; the file disagrees at its last line.
    h.state_mut().state.import.as_mut().unwrap().set_type("price", "BIGINT");
    h.step();
    h.get_by_label("Import").click();
    h.step();
    step_until(&mut h, "the failure", |h| has(h, "Failed"));
    let message = "prices.csv: line 30002, column \"price\": \"cheap\" is not a valid BIGINT";
    step_until(&mut h, "the message", |h| has_text(h, message));
    assert!(h.state().state.tables.is_empty());
    assert!(t.ws.tables().unwrap().is_empty());

    // Without the type, the column is kept as text and the window says why.
    let ok = crate::common::write_file(t.dir.path(), "prices2.csv", &csv);
    drop_file(&mut h, ok);
    h.step();
    confirm_import(&mut h);
    step_until(&mut h, "the notice", |h| has_text(h, "column \"price\" was kept as text: \"cheap\" at line 30,002"));
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

#[test]
fn a_100_million_row_table_jumps_to_its_last_row() {
    let t = TestWorkspace::new();
    t.ws.connect()
        .unwrap()
        .execute_batch("CREATE TABLE big AS SELECT range AS id, range % 997 AS k FROM range(100000000)")
        .unwrap();
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "big"));
    h.get_by_label("big").click();
    h.step();
    step_until(&mut h, "the row count", |h| has(h, "100,000,000 rows"));
    step_until(&mut h, "the first rows", |h| has(h, "1") && has(h, "0"));

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::End);
    step_until(&mut h, "the last row", |h| has(h, "100,000,000") && has(h, "99999999"));
    assert!(h.state().state.grid.window_base > 99_000_000, "the row window moved to the end");

    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Home);
    step_until(&mut h, "the first row again", |h| has(h, "2") && !has(h, "99999999"));
    assert_eq!(h.state().state.grid.window_base, 0);
}

#[test]
fn export_from_the_window_writes_the_file() {
    let t = TestWorkspace::new();
    t.import(shared().join("realdata/palmerpenguins/penguins.csv"), None).unwrap();
    let out = t.dir.path().join("from-ui.parquet");
    let mut h = harness(&t);
    step_until(&mut h, "the catalog", |h| has(h, "penguins"));
    h.get_by_label("penguins").click();
    h.step();
    step_until(&mut h, "the table", |h| has(h, "Export…") && has(h, "Torgersen"));
    // The button is disabled until the table has loaded; press it until the window opens.
    let deadline = Instant::now() + Duration::from_secs(60);
    while h.query_all_by_role(egui::accesskit::Role::TextInput).next().is_none() {
        assert!(Instant::now() < deadline, "timed out waiting for the export window");
        h.get_by_label("Export…").click();
        h.step();
        h.step();
    }
    h.get_by_role(egui::accesskit::Role::TextInput).focus();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    h.get_by_role(egui::accesskit::Role::TextInput).type_text(out.to_str().unwrap());
    h.step();
    assert_eq!(h.state().state.export.as_ref().map(|d| d.path.clone()), Some(out.to_string_lossy().into_owned()));
    h.get_by_label("Export").click();
    h.step();
    step_until(&mut h, "the export notice", |h| has_text(h, "Exported 344 rows to"));
    assert!(std::fs::metadata(&out).unwrap().len() > 1000);
}

#[test]
fn cancel_in_the_jobs_panel_stops_an_import() {
    let csv = crate::common::generated_csv(3_000_000);
    let t = TestWorkspace::new();
    let mut h = harness(&t);
    drop_file(&mut h, csv);
    h.step();
    confirm_import(&mut h);
    step_until(&mut h, "the running job", |h| has(h, "Running"));
    h.get_by_label("Cancel").click();
    h.step();
    step_until(&mut h, "the cancelled job", |h| has(h, "Cancelled"));
    assert!(t.ws.tables().unwrap().is_empty());
    assert!(t.all_table_names().is_empty());
}
