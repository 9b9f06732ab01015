//! Progress of long work (replaying dead letters, seeding): a bar redrawn in
//! place on a terminal, plain lines otherwise (a log, a CI job), where a
//! redrawn line would be noise. Progress goes to stderr so stdout stays the
//! command's result.

use std::io::{IsTerminal, Write};

pub struct Progress {
    what: String,
    total: u64,
    done: u64,
    terminal: bool,
    /// Whether anything is printed at all (`-o json` scripts want silence).
    quiet: bool,
    /// The last share printed as a plain line, in tenths.
    last_tenth: u64,
}

impl Progress {
    pub fn new(what: impl Into<String>, total: u64, quiet: bool) -> Self {
        let progress = Self {
            what: what.into(),
            total,
            done: 0,
            terminal: std::io::stderr().is_terminal(),
            quiet,
            last_tenth: 0,
        };
        progress.draw();
        progress
    }

    /// A step of the work, e.g. "department Public space".
    pub fn step(&mut self, label: &str) {
        self.done += 1;
        if self.quiet {
            return;
        }
        if self.terminal {
            self.draw();
        } else {
            eprintln!("{} [{}/{}] {label}", self.what, self.done, self.total);
        }
    }

    /// Steps of a known count without a label each: plain lines only at
    /// every tenth, so thousands of items stay readable in a log.
    pub fn advance(&mut self, by: u64) {
        self.done += by;
        if self.quiet {
            return;
        }
        if self.terminal {
            self.draw();
        } else if let Some(tenth) = (self.done * 10).checked_div(self.total)
            && tenth > self.last_tenth
        {
            self.last_tenth = tenth;
            eprintln!("{}: {}/{}", self.what, self.done, self.total);
        }
    }

    fn draw(&self) {
        if self.quiet || !self.terminal {
            return;
        }
        const WIDTH: u64 = 30;
        let filled = (self.done.min(self.total) * WIDTH)
            .checked_div(self.total)
            .unwrap_or(0);
        let bar: String = (0..WIDTH)
            .map(|i| if i < filled { '#' } else { '-' })
            .collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r{} [{bar}] {}/{}",
            self.what,
            self.done.min(self.total),
            self.total
        );
        let _ = err.flush();
    }

    pub fn finish(self) {
        if !self.quiet && self.terminal {
            eprintln!();
        }
    }
}
