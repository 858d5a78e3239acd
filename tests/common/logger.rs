//! A Rust host's logger (the `log` facade): records what target "wxfs" says.

use std::sync::Mutex;

struct Capture;

static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "wxfs"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            LOGGED.lock().unwrap().push((r.level(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

/// Installs the logger (once per process; later calls keep it) at level Debug.
pub fn listen() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Debug);
}

/// What was logged so far whose message starts with `prefix` (a sandbox's `user/` or `user/app`).
pub fn heard(prefix: &str) -> Vec<(log::Level, String)> {
    LOGGED.lock().unwrap().iter().filter(|(_, m)| m.starts_with(prefix)).cloned().collect()
}
