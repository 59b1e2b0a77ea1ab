//! The central area's tabs: open tables and SQL consoles, each keeping its own view
//! (filters, sort, columns), scroll position and selection.

use std::collections::HashSet;

use poll_promise::Promise;

use super::console::ConsoleState;
use super::profile::ProfileState;
use super::table::GridState;
use crate::engine::Result;
use crate::engine::browse::TableView;
use crate::engine::view::{Condition, TextMatch};

pub enum TabKind {
    Table(String),
    Console(Box<ConsoleState>),
    Profile(Box<ProfileState>),
    Dedupe(Box<crate::ui::dedupe::DedupeState>),
    Match(Box<crate::ui::matching::MatchState>),
}

/// A block of selected cells: rows and shown-column positions, both inclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    pub anchor: (u64, usize),
    pub cursor: (u64, usize),
}

impl Selection {
    pub fn rows(&self) -> std::ops::RangeInclusive<u64> {
        self.anchor.0.min(self.cursor.0)..=self.anchor.0.max(self.cursor.0)
    }

    pub fn columns(&self) -> std::ops::RangeInclusive<usize> {
        self.anchor.1.min(self.cursor.1)..=self.anchor.1.max(self.cursor.1)
    }

    pub fn contains(&self, row: u64, col: usize) -> bool {
        self.rows().contains(&row) && self.columns().contains(&col)
    }
}

/// What the filter window of a column is being edited to.
#[derive(Clone, Debug, PartialEq)]
pub enum FilterDraft {
    Text { how: TextMatch, value: String, case_sensitive: bool },
    Range { min: String, max: String },
    IsNull,
    IsNotNull,
    OneOf { picked: HashSet<Option<String>> },
}

impl FilterDraft {
    pub fn from_condition(condition: &Condition) -> Self {
        match condition {
            Condition::Text { how, value, case_sensitive } => Self::Text { how: *how, value: value.clone(), case_sensitive: *case_sensitive },
            Condition::Range { min, max } => Self::Range { min: min.clone().unwrap_or_default(), max: max.clone().unwrap_or_default() },
            Condition::IsNull => Self::IsNull,
            Condition::IsNotNull => Self::IsNotNull,
            Condition::OneOf { values, include_null } => {
                let mut picked: HashSet<Option<String>> = values.iter().cloned().map(Some).collect();
                if *include_null {
                    picked.insert(None);
                }
                Self::OneOf { picked }
            }
            // Conditions of checks; the window edits them as "not empty".
            Condition::Length { .. } | Condition::Repeated | Condition::Not(_) => Self::IsNotNull,
        }
    }

    /// The condition, or `None` while it would keep every row (an empty text, no bounds).
    pub fn to_condition(&self) -> Option<Condition> {
        match self {
            Self::Text { value, .. } if value.is_empty() => None,
            Self::Text { how, value, case_sensitive } => Some(Condition::Text { how: *how, value: value.clone(), case_sensitive: *case_sensitive }),
            Self::Range { min, max } => {
                let bound = |s: &String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
                let (min, max) = (bound(min), bound(max));
                (min.is_some() || max.is_some()).then_some(Condition::Range { min, max })
            }
            Self::IsNull => Some(Condition::IsNull),
            Self::IsNotNull => Some(Condition::IsNotNull),
            Self::OneOf { picked } if picked.is_empty() => None,
            Self::OneOf { picked } => {
                let mut values: Vec<String> = picked.iter().flatten().cloned().collect();
                values.sort();
                Some(Condition::OneOf { values, include_null: picked.contains(&None) })
            }
        }
    }
}

/// The open filter window of one column.
pub struct FilterPopup {
    /// The column's name.
    pub column: String,
    pub draft: FilterDraft,
    /// The column's most frequent values, for "one of".
    pub top_values: Option<Promise<Result<Vec<(Option<String>, u64)>>>>,
    pub values: Option<Result<Vec<(Option<String>, u64)>, String>>,
    /// Where the window opens (below the header).
    pub at: egui::Pos2,
    /// The window was put at `at` (after that, where the user drags it).
    pub placed: bool,
    /// Text the pick list is narrowed to.
    pub value_search: String,
    /// Values containing the search text, read from the whole column when the list was cut.
    pub searched: Option<(String, Promise<Result<Vec<(Option<String>, u64)>>>)>,
}

pub struct Tab {
    pub kind: TabKind,
    pub view: Option<TableView>,
    pub grid: GridState,
    /// The quick-search text as typed (applied on Enter).
    pub search: String,
    pub filter_popup: Option<FilterPopup>,
    pub selection: Option<Selection>,
    /// Ctrl+C asked for rows not in the cache: they are being read.
    pub is_copying: bool,
    /// The search box should take the keyboard (Ctrl+F).
    pub focus_search: bool,
    /// The view (filters, sort, columns) while the table is closed for a compaction.
    pub suspended: Option<crate::engine::view::View>,
}

impl Tab {
    pub fn new(kind: TabKind, view: Option<TableView>) -> Self {
        Self { kind, view, grid: GridState::default(), search: String::new(), filter_popup: None, selection: None, is_copying: false, focus_search: false, suspended: None }
    }

    pub fn title(&self) -> String {
        match &self.kind {
            TabKind::Table(name) => name.clone(),
            TabKind::Console(console) => console.title(),
            TabKind::Profile(profile) => profile.title(),
            TabKind::Dedupe(dedupe) => dedupe.title(),
            TabKind::Match(m) => m.title(),
        }
    }

    pub fn table(&self) -> Option<&str> {
        match &self.kind {
            TabKind::Table(name) => Some(name),
            TabKind::Console(_) | TabKind::Profile(_) | TabKind::Dedupe(_) | TabKind::Match(_) => None,
        }
    }

    /// The table this tab is about: shown, profiled or deduplicated.
    pub fn subject(&self) -> Option<&str> {
        match &self.kind {
            TabKind::Table(name) => Some(name),
            TabKind::Profile(profile) => Some(&profile.table),
            TabKind::Dedupe(dedupe) => Some(&dedupe.table),
            TabKind::Match(m) => Some(&m.table),
            TabKind::Console(_) => None,
        }
    }

    pub fn console(&self) -> Option<&ConsoleState> {
        match &self.kind {
            TabKind::Console(c) => Some(c),
            TabKind::Table(_) | TabKind::Profile(_) | TabKind::Dedupe(_) | TabKind::Match(_) => None,
        }
    }

    pub fn console_mut(&mut self) -> Option<&mut ConsoleState> {
        match &mut self.kind {
            TabKind::Console(c) => Some(c),
            TabKind::Table(_) | TabKind::Profile(_) | TabKind::Dedupe(_) | TabKind::Match(_) => None,
        }
    }

    pub fn profile(&self) -> Option<&ProfileState> {
        match &self.kind {
            TabKind::Profile(p) => Some(p),
            _ => None,
        }
    }

    pub fn dedupe_mut(&mut self) -> Option<&mut crate::ui::dedupe::DedupeState> {
        match &mut self.kind {
            TabKind::Dedupe(d) => Some(d),
            _ => None,
        }
    }

    pub fn match_mut(&mut self) -> Option<&mut crate::ui::matching::MatchState> {
        match &mut self.kind {
            TabKind::Match(m) => Some(m),
            _ => None,
        }
    }

    pub fn profile_mut(&mut self) -> Option<&mut ProfileState> {
        match &mut self.kind {
            TabKind::Profile(p) => Some(p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drafts_become_conditions_only_when_they_filter() {
        assert_eq!(FilterDraft::Text { how: TextMatch::Contains, value: String::new(), case_sensitive: false }.to_condition(), None);
        assert_eq!(FilterDraft::Range { min: " 3 ".into(), max: String::new() }.to_condition(), Some(Condition::Range { min: Some("3".into()), max: None }));
        let picked: HashSet<Option<String>> = [Some("b".to_string()), None, Some("a".to_string())].into_iter().collect();
        let condition = FilterDraft::OneOf { picked }.to_condition().unwrap();
        assert_eq!(condition, Condition::OneOf { values: vec!["a".into(), "b".into()], include_null: true });
        assert_eq!(FilterDraft::from_condition(&condition).to_condition(), Some(condition));
        let sel = Selection { anchor: (5, 2), cursor: (3, 0) };
        assert!(sel.contains(4, 1) && !sel.contains(6, 1));
    }
}
