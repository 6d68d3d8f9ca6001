//! What an import of a vCard, CSV or JSON file reports: every record kept, skipped or
//! changed, every value not kept, every property with no field. Problems are counted
//! without limit but only the first [`MAX_PROBLEMS`] are kept, so a hostile file cannot
//! grow the report (or the memory holding it) with its size.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::bundle::ImportReport;

/// How many problems (and distinct unmapped property names) a report keeps.
pub const MAX_PROBLEMS: usize = 1000;

/// What a problem cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum ProblemKind {
    /// A whole record (a card, a row, an item) could not be kept.
    Skipped,
    /// One value did not fit its field; the rest of the record was kept.
    ValueNotKept,
}

/// One problem, at the line where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Problem {
    pub line: u64,
    /// The vCard property or CSV column, when the problem is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub property: Option<String>,
    pub kind: ProblemKind,
    pub reason: String,
    /// The value was copied verbatim into the record's notes.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub kept_in_notes: bool,
}

/// A property (or column) that no field takes, and how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Unmapped {
    pub property: String,
    pub count: u64,
    pub first_line: u64,
}

/// A record an import updated: the fields it changed and the ones it left as edited by
/// hand since the last import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub id: String,
    pub changed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_edited: Vec<String>,
}

/// The report of one `import_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The file as given.
    pub file: String,
    /// `format`, `dry_run`, `records`, `new`, `updated`, `unchanged` (and the bundle's
    /// own details for a bundle).
    #[serde(flatten)]
    pub merge: ImportReport,
    /// The batch id of what this import added (`import undo BATCH`); none for a dry
    /// run, a bundle, or an import that added nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// The text encoding read (not for bundles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// Records (cards, rows, items) that could not be kept.
    pub skipped: u64,
    /// Values that did not fit their field (their records were kept).
    pub values_not_kept: u64,
    /// Properties or columns no field takes, by name (at most [`MAX_PROBLEMS`] names).
    pub unmapped: Vec<Unmapped>,
    /// Every problem counted; `problems` holds the first [`MAX_PROBLEMS`].
    pub problems_total: u64,
    pub problems: Vec<Problem>,
    /// Records updated by this import (at most [`MAX_PROBLEMS`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// The import was refused (`strict` and problems found): nothing was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

/// Collects problems and unmapped properties while a file is read.
#[derive(Debug, Default)]
pub struct Problems {
    pub(super) list: Vec<Problem>,
    pub(super) total: u64,
    pub(super) skipped: u64,
    pub(super) values_not_kept: u64,
    unmapped: BTreeMap<String, (u64, u64)>,
    unmapped_other: u64,
    /// How the file was read that the person should know (not a problem: nothing lost).
    pub(super) warnings: Vec<crate::bundle::ImportWarning>,
}

impl Problems {
    /// Counts a problem; keeps it if fewer than [`MAX_PROBLEMS`] are kept.
    pub fn push(&mut self, p: Problem) {
        self.total += 1;
        match p.kind {
            ProblemKind::Skipped => self.skipped += 1,
            ProblemKind::ValueNotKept => self.values_not_kept += 1,
        }
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        }
    }

    /// A record that could not be kept.
    pub fn skipped(&mut self, line: u64, property: Option<&str>, reason: impl Into<String>) {
        self.push(Problem {
            line,
            property: property.map(str::to_string),
            kind: ProblemKind::Skipped,
            reason: reason.into(),
            kept_in_notes: false,
        });
    }

    /// A value that did not fit; `kept_in_notes` when it was copied into the notes.
    pub fn not_kept(
        &mut self,
        line: u64,
        property: &str,
        reason: impl Into<String>,
        kept_in_notes: bool,
    ) {
        self.push(Problem {
            line,
            property: Some(property.to_string()),
            kind: ProblemKind::ValueNotKept,
            reason: reason.into(),
            kept_in_notes,
        });
    }

    /// A property no field takes.
    pub fn unmapped(&mut self, line: u64, property: &str) {
        if let Some(e) = self.unmapped.get_mut(property) {
            e.0 += 1;
        } else if self.unmapped.len() < MAX_PROBLEMS {
            self.unmapped.insert(property.to_string(), (1, line));
        } else {
            self.unmapped_other += 1;
        }
    }

    /// The unmapped properties so far: (name, count, first line).
    pub fn unmapped_list(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.unmapped.iter().map(|(k, (n, l))| (k.as_str(), *n, *l))
    }

    /// Every problem counted so far.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The problems kept, in the order found.
    pub fn list(&self) -> &[Problem] {
        &self.list
    }

    /// Moves everything into `report`.
    pub fn into_report(self, report: &mut Report) {
        report.merge.warnings.extend(self.warnings);
        report.problems_total = self.total;
        report.skipped = self.skipped;
        report.values_not_kept = self.values_not_kept;
        report.problems = self.list;
        report.problems.sort_by_key(|p| p.line);
        report.unmapped = self
            .unmapped
            .into_iter()
            .map(|(property, (count, first_line))| Unmapped {
                property,
                count,
                first_line,
            })
            .collect();
        if self.unmapped_other > 0 {
            report.unmapped.push(Unmapped {
                property: "(other names)".into(),
                count: self.unmapped_other,
                first_line: 0,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_are_counted_but_only_the_first_thousand_kept() {
        let mut p = Problems::default();
        for i in 0..5000u64 {
            p.skipped(i + 1, None, "bad");
            p.unmapped(i + 1, &format!("X-{i}"));
        }
        p.not_kept(1, "TEL", "not a phone", true);
        let mut r = Report::default();
        p.into_report(&mut r);
        assert_eq!(
            (r.problems_total, r.skipped, r.values_not_kept),
            (5001, 5000, 1)
        );
        assert_eq!(r.problems.len(), MAX_PROBLEMS);
        assert_eq!(r.unmapped.len(), MAX_PROBLEMS + 1);
        assert_eq!(r.unmapped.last().unwrap().count, 4000);
    }
}
