//! Progress of long commands on a terminal (indicatif): a bar on stderr when stderr is a terminal,
//! nothing otherwise (a script or a pipe reads only the command's output).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting `unit`s done of a total told as the work goes.
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar of `unit`s (e.g. "codes"), drawn only on a terminal.
    pub fn new(unit: &str) -> Self {
        let template = format!("{{bar:40}} {{pos}}/{{len}} {unit} {{eta}}");
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        Self(ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style))
    }

    /// `done` of `total` are done.
    pub fn update(&self, done: usize, total: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
    }

    /// The work ended: the last figures stay on the terminal.
    pub fn finish(&self) {
        self.0.finish();
    }
}
