//! Human-readable tables from the apiserver's server-side `meta.k8s.io/v1` Table, decorated and
//! laid out as upstream's `HumanReadablePrinter` does: upper-case headers, priority > 0 columns
//! only with `-o wide`, a NAMESPACE column first with `-A`, `kind/name` names when several types
//! are printed together, label columns (`-L`) and LABELS (`--show-labels`) last, an EVENT column
//! for `--output-watch-events`, headers once per run of identical columns, and cells cut at the
//! first line break with `...`.

use super::tabwriter::TabWriter;
use crate::error::CliError;
use serde_json::Value;
use std::collections::BTreeMap;

/// One `TableColumnDefinition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_: String,
    pub format: String,
    pub priority: i64,
}

/// One `TableRow`: its cells and the object (metadata) the server attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Value>,
    pub object: Option<Value>,
}

/// A server-side Table.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table {
    /// Empty in watch events that rely on the columns sent before.
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    /// Reads a `meta.k8s.io/v1` Table as the apiserver sends it.
    pub fn from_value(value: &Value) -> Result<Self, CliError> {
        if value.get("kind").and_then(Value::as_str) != Some("Table") {
            return Err(CliError::usage(format!(
                "the server did not answer with a Table but with {:?}",
                value
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("nothing")
            )));
        }
        let columns = value
            .get("columnDefinitions")
            .and_then(Value::as_array)
            .map(|columns| {
                columns
                    .iter()
                    .map(|c| Column {
                        name: text(c, "name"),
                        type_: text(c, "type"),
                        format: text(c, "format"),
                        priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows = value
            .get("rows")
            .and_then(Value::as_array)
            .map(|rows| {
                rows.iter()
                    .map(|r| Row {
                        cells: r
                            .get("cells")
                            .and_then(Value::as_array)
                            .cloned()
                            .unwrap_or_default(),
                        object: r.get("object").filter(|o| o.is_object()).cloned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { columns, rows })
    }
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// How tables are decorated (upstream's `PrintOptions`).
#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    /// `-o wide`: also the priority > 0 columns.
    pub wide: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `-A` on a namespaced type: a NAMESPACE column first.
    pub with_namespace: bool,
    /// `--show-labels`: a LABELS column last.
    pub show_labels: bool,
    /// `-L key`: one column per label key.
    pub label_columns: Vec<String>,
    /// `pod`, `deployment.apps`: names print as `kind/name` (several types in one command).
    pub kind: Option<String>,
}

/// Prints tables one after another into aligned text, remembering what upstream's printer
/// remembers: the last columns (headers print again only when they change) and column widths.
#[derive(Debug)]
pub struct TablePrinter {
    options: TableOptions,
    writer: TabWriter,
    pending: String,
    last_columns: Vec<Column>,
    printed_headers: bool,
}

impl TablePrinter {
    pub fn new(options: TableOptions) -> Self {
        Self {
            options,
            writer: TabWriter::for_tables(),
            pending: String::new(),
            last_columns: Vec::new(),
            printed_headers: false,
        }
    }

    /// Adds a table (with `event_type` when printing watch events); call [`Self::flush`] to get
    /// the aligned text.
    pub fn add(&mut self, mut table: Table, event_type: Option<&str>) {
        let mut no_headers = self.options.no_headers;
        if self.printed_headers && (table.columns.is_empty() || table.columns == self.last_columns)
        {
            no_headers = true;
        }
        if table.columns.is_empty() {
            table.columns = self.last_columns.clone();
        } else if table.columns != self.last_columns {
            self.last_columns = table.columns.clone();
            self.printed_headers = false;
        }
        if !table.rows.is_empty() {
            self.printed_headers = true;
        }
        let (headers, rows) = decorate(&table, &self.options, event_type);
        if !no_headers {
            // Upstream prints no header above an empty table.
            if rows.is_empty() {
                return;
            }
            self.pending.push_str(&headers.join("\t"));
            self.pending.push('\n');
        }
        for row in rows {
            self.pending.push_str(&row.join("\t"));
            self.pending.push('\n');
        }
    }

    /// The aligned text of everything added since the last flush.
    pub fn flush(&mut self) -> String {
        let text = std::mem::take(&mut self.pending);
        self.writer.format(&text)
    }
}

/// Visible headers and cells of a table after decoration.
fn decorate(
    table: &Table,
    options: &TableOptions,
    event_type: Option<&str>,
) -> (Vec<String>, Vec<Vec<String>>) {
    let visible: Vec<usize> = (0..table.columns.len())
        .filter(|&i| options.wide || table.columns[i].priority == 0)
        .collect();
    let name_column = options.kind.as_ref().and_then(|_| {
        table
            .columns
            .iter()
            .position(|c| c.format == "name" && c.type_ == "string")
    });
    let mut headers = Vec::new();
    if event_type.is_some() {
        headers.push("EVENT".to_owned());
    }
    if options.with_namespace {
        headers.push("NAMESPACE".to_owned());
    }
    headers.extend(
        visible
            .iter()
            .map(|&i| table.columns[i].name.to_uppercase()),
    );
    headers.extend(
        options
            .label_columns
            .iter()
            .map(|l| l.rsplit('/').next().unwrap_or_default().to_uppercase()),
    );
    if options.show_labels {
        headers.push("LABELS".to_owned());
    }
    let rows = table
        .rows
        .iter()
        .map(|row| {
            let metadata = row.object.as_ref().and_then(|o| o.get("metadata"));
            let labels = labels_of(metadata);
            let mut cells = Vec::new();
            if let Some(event) = event_type {
                cells.push(format_event_type(event));
            }
            if options.with_namespace {
                cells.push(
                    metadata
                        .and_then(|m| m.get("namespace"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            for &i in &visible {
                let cell = row.cells.get(i).map(format_cell).unwrap_or_default();
                match (&options.kind, name_column) {
                    (Some(kind), Some(n)) if n == i => cells.push(format!("{kind}/{cell}")),
                    _ => cells.push(cell),
                }
            }
            let has_metadata = metadata.is_some();
            for key in &options.label_columns {
                cells.push(labels.get(key).cloned().unwrap_or_default());
            }
            if options.show_labels {
                cells.push(if has_metadata {
                    format_labels(&labels)
                } else {
                    String::new()
                });
            }
            cells
        })
        .collect();
    (headers, rows)
}

fn labels_of(metadata: Option<&Value>) -> BTreeMap<String, String> {
    metadata
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted by key, `<none>` when empty.
pub fn format_labels(labels: &BTreeMap<String, String>) -> String {
    if labels.is_empty() {
        return "<none>".to_owned();
    }
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Upstream pads the event type inside the cell.
fn format_event_type(event: &str) -> String {
    match event {
        "ADDED" => "ADDED   ".to_owned(),
        "MODIFIED" => "MODIFIED".to_owned(),
        "DELETED" => "DELETED ".to_owned(),
        "ERROR" => "ERROR   ".to_owned(),
        other => other.to_owned(),
    }
}

/// One cell as upstream prints it: strings cut at the first line break (with `...`), escape
/// characters made visible, anything else as Go's `fmt.Sprint`.
pub fn format_cell(cell: &Value) -> String {
    match cell {
        Value::Null => String::new(),
        Value::String(s) => {
            let escaped = |t: &str| t.replace('\x1b', "^[");
            match s.find(['\n', '\r', '\x0c']) {
                Some(at) => format!("{}...", escaped(&s[..at])),
                None => escaped(s),
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        Value::Number(n) => super::yaml::go_float_g(n.as_f64().unwrap_or_default()),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(format_cell).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let pairs: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", format_cell(&map[k.as_str()])))
                .collect();
            format!("map[{}]", pairs.join(" "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pods_table() -> Table {
        Table::from_value(&json!({
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": [
                {"name": "Name", "type": "string", "format": "name", "priority": 0},
                {"name": "Ready", "type": "string", "format": "", "priority": 0},
                {"name": "Restarts", "type": "string", "format": "", "priority": 0},
                {"name": "IP", "type": "string", "format": "", "priority": 1},
            ],
            "rows": [
                {"cells": ["web-1", "1/1", 0, "10.244.0.5"], "object": {"metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web", "a": "b"}}}},
                {"cells": ["db", "0/1", 3, null], "object": {"metadata": {"name": "db", "namespace": "prod"}}},
            ],
        }))
        .unwrap()
    }

    fn print(options: TableOptions) -> String {
        let mut printer = TablePrinter::new(options);
        printer.add(pods_table(), None);
        printer.flush()
    }

    #[test]
    fn plain_tables_hide_wide_columns() {
        assert_eq!(
            print(TableOptions::default()),
            "NAME    READY   RESTARTS\nweb-1   1/1     0\ndb      0/1     3\n"
        );
        assert_eq!(
            print(TableOptions {
                wide: true,
                ..TableOptions::default()
            }),
            "NAME    READY   RESTARTS   IP\nweb-1   1/1     0          10.244.0.5\ndb      0/1     3          \n"
        );
    }

    #[test]
    fn decorations_add_namespace_kind_and_labels() {
        let got = print(TableOptions {
            with_namespace: true,
            show_labels: true,
            kind: Some("pod".into()),
            no_headers: false,
            label_columns: vec!["example.com/app".into()],
            wide: false,
        });
        assert_eq!(
            got,
            "NAMESPACE   NAME        READY   RESTARTS   APP   LABELS\ndefault     pod/web-1   1/1     0                a=b,app=web\nprod        pod/db      0/1     3                <none>\n"
        );
        let got = print(TableOptions {
            no_headers: true,
            ..TableOptions::default()
        });
        assert_eq!(got, "web-1   1/1   0\ndb      0/1   3\n");
    }

    #[test]
    fn headers_print_once_and_empty_tables_print_nothing() {
        let mut printer = TablePrinter::new(TableOptions::default());
        printer.add(
            Table {
                columns: pods_table().columns,
                rows: Vec::new(),
            },
            None,
        );
        assert_eq!(printer.flush(), "");
        printer.add(pods_table(), None);
        printer.add(pods_table(), None);
        let text = printer.flush();
        assert_eq!(text.matches("NAME").count(), 1, "{text}");
        // Watch events carry no columns: the last ones are used, without headers.
        let mut event = pods_table();
        event.columns.clear();
        event.rows.truncate(1);
        printer.add(event, Some("MODIFIED"));
        // The last column was never tab-terminated, so no width was remembered for it.
        assert_eq!(printer.flush(), "MODIFIED   web-1   1/1   0\n");
    }

    #[test]
    fn cells_are_cut_at_line_breaks() {
        assert_eq!(format_cell(&json!("first\nsecond")), "first...");
        assert_eq!(format_cell(&json!(2.5)), "2.5");
        assert_eq!(format_cell(&json!(null)), "");
    }
}
