//! Column alignment exactly as Go's `text/tabwriter` does it, which is what upstream kubectl
//! prints through: cells are tab-terminated, a column is aligned over each run of consecutive
//! lines that have a cell in it, and the last cell of a line is never padded (so a line ending in
//! an empty cell keeps its trailing spaces, as upstream's `describe` does).
//!
//! `kubectl get` uses minimum width 6 and padding 3 and remembers widths across flushes (so the
//! rows of `get -w` stay aligned with the first table); `describe` uses minimum width 0 and
//! padding 2.

/// A tabwriter with Go's parameters (space padding, left alignment).
#[derive(Debug, Clone)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    remember_widths: bool,
    remembered: Vec<usize>,
}

impl TabWriter {
    /// The layout of `kubectl get` tables (`printers.GetNewTabWriter`).
    pub fn for_tables() -> Self {
        Self {
            min_width: 6,
            padding: 3,
            remember_widths: true,
            remembered: Vec::new(),
        }
    }

    /// The layout of `kubectl describe` (`tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)`).
    pub fn for_describe() -> Self {
        Self {
            min_width: 0,
            padding: 2,
            remember_widths: false,
            remembered: Vec::new(),
        }
    }

    /// Forgets the widths remembered by earlier flushes (upstream does this between the tables
    /// of different resource types).
    pub fn forget_widths(&mut self) {
        self.remembered.clear();
    }

    /// Aligns `text` (lines separated by `\n`, cells terminated by `\t`) and returns it.
    pub fn format(&mut self, text: &str) -> String {
        let mut lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
        // A trailing newline leaves one empty last "line" that Go never prints.
        let trailing_newline = text.ends_with('\n');
        if trailing_newline {
            lines.pop();
        }
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        if !trailing_newline && out.ends_with('\n') {
            out.pop();
        }
        out
    }

    /// Go's `Writer.format`: finds the blocks of lines sharing column `widths.len()`, sizes the
    /// column over each block and recurses into the columns to its right.
    fn format_block(
        &mut self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            // Only tab-terminated cells belong to a column: the last cell of a line does not.
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(cell_width(lines[this][column]) + self.padding);
                this += 1;
            }
            if self.remember_widths {
                if self.remembered.len() <= column {
                    self.remembered.resize(column + 1, 0);
                }
                width = width.max(self.remembered[column]);
                self.remembered[column] = width;
            }
            widths.push(width);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_lines(
        &self,
        lines: &[Vec<&str>],
        line0: usize,
        line1: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for line in &lines[line0..line1] {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell);
                if j < widths.len() {
                    let pad = widths[j].saturating_sub(cell_width(cell));
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push('\n');
        }
    }
}

/// Go counts a cell's width in runes.
fn cell_width(cell: &str) -> usize {
    cell.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_by_three_with_a_minimum_of_six() {
        let text = "NAME\tREADY\tAGE\nweb-1\t1/1\t5s\na\t0/1\t10m\n";
        let got = TabWriter::for_tables().format(text);
        assert_eq!(
            got,
            "NAME    READY   AGE\nweb-1   1/1     5s\na       0/1     10m\n"
        );
    }

    #[test]
    fn short_columns_get_the_minimum_width() {
        let got = TabWriter::for_tables().format("A\tB\nx\ty\n");
        assert_eq!(got, "A     B\nx     y\n");
    }

    #[test]
    fn describe_blocks_align_only_consecutive_lines() {
        let text = "Name:\tweb\nLabels:\tapp=web\n\tx=y\nIP:\t\nContainers:\n  c:\n    Image:\tbusybox\n    Port:\t<none>\n";
        let got = TabWriter::for_describe().format(text);
        assert_eq!(
            got,
            "Name:    web\nLabels:  app=web\n         x=y\nIP:      \nContainers:\n  c:\n    Image:  busybox\n    Port:   <none>\n"
        );
    }

    #[test]
    fn remembered_widths_keep_later_rows_aligned() {
        let mut writer = TabWriter::for_tables();
        let first = writer.format("NAME\tAGE\nlong-name-here\t1s\n");
        let next = writer.format("a\t2s\n");
        assert_eq!(first, "NAME             AGE\nlong-name-here   1s\n");
        assert_eq!(next, "a                2s\n");
        writer.forget_widths();
        assert_eq!(writer.format("a\t2s\n"), "a     2s\n");
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let got = TabWriter::for_tables().format("ü\tx\nabc\ty\n");
        assert_eq!(got, "ü     x\nabc   y\n");
    }
}
