//! The benchmark's table: each measure next to its ceiling or baseline from the same run.

/// One line of the table.
pub struct Row {
    pub measure: String,
    pub value: String,
    pub baseline: String,
    /// value ÷ baseline, when both are rates of the same thing.
    pub ratio: Option<f64>,
    pub target: String,
    pub met: Option<bool>,
}

#[derive(Default)]
pub struct Report {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Report {
    pub fn row(
        &mut self,
        measure: impl Into<String>,
        value: impl Into<String>,
        baseline: impl Into<String>,
        ratio: Option<f64>,
        target: impl Into<String>,
        met: Option<bool>,
    ) {
        self.rows.push(Row {
            measure: measure.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio,
            target: target.into(),
            met,
        });
    }

    /// A Markdown table, ready for docs/PERFORMANCE.md.
    pub fn render(&self) -> String {
        let mut out = String::from(
            "| measure | value | ceiling / baseline | ratio | target | met |\n|---|---|---|---|---|---|\n",
        );
        for row in &self.rows {
            let ratio = row.ratio.map_or_else(String::new, |r| format!("{r:.2}"));
            let met = match row.met {
                Some(true) => "yes",
                Some(false) => "no",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                row.measure, row.value, row.baseline, ratio, row.target, met
            ));
        }
        for note in &self.notes {
            out.push_str(&format!("\n{note}"));
        }
        out
    }
}
