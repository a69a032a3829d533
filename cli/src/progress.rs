//! A progress bar on stderr when it is a terminal, and nothing otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A byte-count progress bar, hidden unless stderr is a terminal. Its
/// sizes are decimal (MB), as every size the CLI prints.
pub fn bytes(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
    }
    bar.set_message(message.to_owned());
    bar
}

/// A progress bar counting steps (runs of a benchmark), not bytes; hidden
/// unless stderr is a terminal.
pub fn runs(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    if std::io::stderr().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} runs") {
            bar.set_style(style.progress_chars("=> "));
        }
    }
    bar.set_message(message.to_owned());
    bar
}
