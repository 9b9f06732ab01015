//! What a command prints: a table (or a record, or a sentence) for people,
//! the same data as JSON or YAML for scripts (`-o json`, `-o yaml`).

use std::io::Write;

use serde_json::Value;

use super::failure::{Failure, Result};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people
    #[default]
    Table,
    /// One JSON document
    Json,
    /// One YAML document
    Yaml,
}

/// How the result reads for people.
#[derive(Debug)]
pub enum Human {
    /// Rows under column headings.
    Table {
        columns: Vec<&'static str>,
        rows: Vec<Vec<String>>,
        /// Printed after the table (e.g. "3 of 12 shown").
        footer: Option<String>,
    },
    /// One thing, a field per line.
    Record(Vec<(&'static str, String)>),
    /// A sentence.
    Text(String),
    /// Nothing more: the command wrote its output as it went.
    Silent,
}

/// A command's result: `value` is what scripts get.
#[derive(Debug)]
pub struct Outcome {
    pub value: Value,
    pub human: Human,
    /// Printed after the output, and the exit code: the command answered,
    /// but what it found is a failure (a service not ready).
    pub failure: Option<Failure>,
}

impl Outcome {
    pub fn table(columns: Vec<&'static str>, rows: Vec<Vec<String>>, value: Value) -> Self {
        Self {
            value,
            human: Human::Table {
                columns,
                rows,
                footer: None,
            },
            failure: None,
        }
    }

    pub fn with_footer(mut self, text: impl Into<String>) -> Self {
        if let Human::Table { footer, .. } = &mut self.human {
            *footer = Some(text.into());
        }
        self
    }

    pub fn silent(value: Value) -> Self {
        Self {
            value,
            human: Human::Silent,
            failure: None,
        }
    }

    pub fn failing(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self
    }

    pub fn record(fields: Vec<(&'static str, String)>, value: Value) -> Self {
        Self {
            value,
            human: Human::Record(fields),
            failure: None,
        }
    }

    pub fn text(text: impl Into<String>, value: Value) -> Self {
        Self {
            value,
            human: Human::Text(text.into()),
            failure: None,
        }
    }

    pub fn print(&self, format: Format) -> Result<()> {
        let text = self.render(format)?;
        let mut out = std::io::stdout().lock();
        // A closed pipe (`inspraak projects list | head -1`) is not an error.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
        Ok(())
    }

    pub fn render(&self, format: Format) -> Result<String> {
        if matches!(self.human, Human::Silent) {
            return Ok(String::new());
        }
        match format {
            Format::Json => serde_json::to_string_pretty(&self.value)
                .map(|s| s + "\n")
                .map_err(|e| Failure::other(format!("encoding JSON: {e}"))),
            Format::Yaml => serde_norway::to_string(&self.value)
                .map_err(|e| Failure::other(format!("encoding YAML: {e}"))),
            Format::Table => Ok(match &self.human {
                Human::Table {
                    columns,
                    rows,
                    footer,
                } => {
                    let mut text = table(columns, rows);
                    if let Some(footer) = footer {
                        text.push_str(footer);
                        text.push('\n');
                    }
                    text
                }
                Human::Record(fields) => record(fields),
                Human::Text(text) => format!("{text}\n"),
                Human::Silent => String::new(),
            }),
        }
    }
}

/// Columns padded to their widest cell; an empty table says so.
pub fn table(columns: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return "(none)\n".to_owned();
    }
    let mut widths: Vec<usize> = columns.iter().map(|c| c.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut text = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = String>| {
        let mut out = String::new();
        for (i, cell) in cells.enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(&cell);
            out.extend(std::iter::repeat_n(
                ' ',
                width.saturating_sub(cell.chars().count()),
            ));
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(&mut columns.iter().map(|c| c.to_uppercase()));
    for row in rows {
        line(&mut row.iter().cloned());
    }
    text
}

fn record(fields: &[(&str, String)]) -> String {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in fields {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or("");
        text.push_str(&format!("{key:<width$}  {first}\n"));
        for more in lines {
            text.push_str(&format!("{:<width$}  {more}\n", ""));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_their_columns() {
        let text = table(
            &["id", "title"],
            &[
                vec!["1".into(), "Park".into()],
                vec!["22".into(), "Square".into()],
            ],
        );
        assert_eq!(text, "ID  TITLE\n1   Park\n22  Square\n");
        assert_eq!(table(&["id"], &[]), "(none)\n");
    }

    #[test]
    fn scripts_get_the_value_as_json_or_yaml() {
        let outcome = Outcome::text("done", serde_json::json!({"replayed": 2}));
        assert_eq!(outcome.render(Format::Table).unwrap(), "done\n");
        let json: Value = serde_json::from_str(&outcome.render(Format::Json).unwrap()).unwrap();
        assert_eq!(json["replayed"], 2);
        assert_eq!(outcome.render(Format::Yaml).unwrap(), "replayed: 2\n");
    }
}
