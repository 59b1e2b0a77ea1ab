//! The profile's checks page: add, remove and run checks; open a failing check's rows.

use egui::Color32;

use super::*;

const RULES: [&str; 7] = ["not null", "unique", "between", "matches regex", "one of", "length between", "SQL condition"];

pub(super) fn checks_ui(ui: &mut egui::Ui, state: &mut ProfileState, commands: &mut Vec<Command>) {
    let column_names: Vec<String> = state.columns().iter().map(|c| c.name.clone()).collect();
    ui.label("Checks are saved with the table and run on all its rows. Missing values pass every check but \"not null\".");
    if std::mem::take(&mut state.fresh_results) {
        ui.ctx().request_repaint();
    }
    let mut remove = None;
    egui::Grid::new("checks").striped(true).num_columns(4).show(ui, |ui| {
        for (i, check) in state.checks.iter().enumerate() {
            let result = state.check_results.iter().find(|r| &r.check == check);
            ui.label(check.describe());
            match result {
                Some(r) if r.passed => {
                    ui.colored_label(Color32::from_rgb(40, 150, 60), "pass");
                }
                Some(r) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("fail: {} rows ({:.2} %)", group_digits(r.failing), r.failing_pct));
                }
                None => {
                    ui.weak("not run");
                }
            }
            let show = result.is_some_and(|r| !r.passed).then(|| ui.button("Show failing rows"));
            if show.is_some_and(|r| r.clicked()) {
                match check.failing_rows(&View::table(state.table.clone())) {
                    Ok(view) => {
                        commands.push(Command::OpenTable(state.table.clone()));
                        commands.push(Command::SetView(view));
                    }
                    Err(e) => state.error = Some(e.to_string()),
                }
            } else if result.is_none_or(|r| r.passed) {
                ui.label("");
            }
            if crate::ui::named(ui.small_button("✖"), "Remove this check").on_hover_text("Remove this check").clicked() {
                remove = Some(i);
            }
            ui.end_row();
        }
    });
    if let Some(i) = remove {
        state.checks.remove(i);
        state.checks_changed = true;
    }
    ui.separator();
    ui.horizontal(|ui| {
        let d = &mut state.draft;
        if d.column.is_empty() {
            d.column = column_names.first().cloned().unwrap_or_default();
        }
        if d.rule != 6 {
            egui::ComboBox::from_id_salt("check-column").selected_text(&d.column).show_ui(ui, |ui| {
                for name in &column_names {
                    ui.selectable_value(&mut d.column, name.clone(), name);
                }
            });
        }
        egui::ComboBox::from_id_salt("check-rule").selected_text(RULES[d.rule]).show_ui(ui, |ui| {
            for (i, r) in RULES.iter().enumerate() {
                ui.selectable_value(&mut d.rule, i, *r);
            }
        });
        match d.rule {
            2 | 5 => {
                ui.add(egui::TextEdit::singleline(&mut d.first).hint_text("min").desired_width(90.0));
                ui.add(egui::TextEdit::singleline(&mut d.second).hint_text("max").desired_width(90.0));
            }
            3 => {
                ui.add(egui::TextEdit::singleline(&mut d.first).hint_text("regular expression").desired_width(200.0));
            }
            4 => {
                ui.add(egui::TextEdit::singleline(&mut d.first).hint_text("values, comma-separated").desired_width(240.0));
            }
            6 => {
                ui.add(egui::TextEdit::singleline(&mut d.first).hint_text("e.g. price >= 0 OR qty = 0").desired_width(320.0));
            }
            _ => {}
        }
        if ui.button("Add check").clicked() {
            match draft_check(d) {
                Ok(check) => {
                    state.checks.push(check);
                    state.checks_changed = true;
                    state.draft.first.clear();
                    state.draft.second.clear();
                }
                Err(e) => state.error = Some(e),
            }
        }
    });
    ui.horizontal(|ui| {
        if state.check_job.is_some() {
            ui.spinner();
            ui.label("Checking…");
        } else if ui.add_enabled(!state.checks.is_empty(), egui::Button::new("Run checks")).clicked() {
            state.wants_checks = true;
        }
    });
}

fn draft_check(d: &CheckDraft) -> Result<Check, String> {
    let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let number = |s: &str| -> Result<Option<u64>, String> { text(s).map(|t| t.parse::<u64>().map_err(|_| format!("\"{t}\" is not a length"))).transpose() };
    let rule = match d.rule {
        0 => Rule::NotNull,
        1 => Rule::Unique,
        2 if text(&d.first).is_none() && text(&d.second).is_none() => return Err("give a min, a max or both".into()),
        2 => Rule::Between { min: text(&d.first), max: text(&d.second) },
        3 => Rule::Matches { pattern: text(&d.first).ok_or("give a regular expression")? },
        4 => Rule::InSet { values: d.first.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect() },
        5 => Rule::Length { min: number(&d.first)?, max: number(&d.second)? },
        _ => {
            let predicate = text(&d.first).ok_or("write a SQL condition")?;
            crate::engine::view::WhereExpr::parse(&predicate).map_err(|e| e.to_string())?;
            Rule::Sql { predicate }
        }
    };
    if matches!(&rule, Rule::InSet { values } if values.is_empty()) {
        return Err("give one or more values".into());
    }
    Ok(Check { column: (d.rule != 6).then(|| d.column.clone()), rule })
}
