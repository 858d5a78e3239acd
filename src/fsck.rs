//! `wxfs fsck`: check every sandbox under a root — its quota journal against the files, its
//! storage log record by record, its staging area — and with `repair`, fix what can be fixed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::fs::scan;
use crate::quota::journal::{self, Journal};
use crate::quota::Usage;
use crate::sandbox::{self, OpenError, Sandbox};
use crate::storage;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SandboxReport {
    pub dir: PathBuf,
    /// Held by a running mini-program: not checked.
    pub busy: bool,
    /// What the journal says (after settling cut-short reservations), if it is readable.
    pub journal: Option<Usage>,
    /// Why the journal is unusable, if it is.
    pub journal_problem: Option<String>,
    /// Bytes of a torn journal tail.
    pub journal_torn: u64,
    /// What the files hold.
    pub real: Usage,
    pub storage: storage::Verify,
    /// Files left in staging by an interrupted write.
    pub staging_leftovers: u64,
    /// What `repair` changed.
    pub repaired: Vec<String>,
}

impl SandboxReport {
    /// Problems found, in words; empty when the sandbox is consistent.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if let Some(why) = &self.journal_problem {
            p.push(why.clone());
        }
        if self.journal_torn > 0 {
            p.push(format!("quota journal has a torn tail of {} bytes", self.journal_torn));
        }
        if let Some(j) = self.journal {
            if j != self.real {
                p.push(format!(
                    "quota journal says {} user / {} temp bytes / {} entries, files hold {} / {} / {}",
                    j.user, j.temp, j.entries, self.real.user, self.real.temp, self.real.entries
                ));
            }
        }
        if self.storage.bad_header {
            p.push("storage log header is not ours".into());
        }
        if self.storage.bad_tail > 0 {
            p.push(format!("storage log has {} bytes after its last whole record", self.storage.bad_tail));
        }
        if self.storage.damaged > 0 {
            p.push(format!("storage log has {} damaged bytes in the middle", self.storage.damaged));
        }
        if self.storage.leftover_compact {
            p.push("storage log has a leftover compaction file".into());
        }
        if self.storage.pending_next {
            p.push("storage log has a compacted log not yet renamed into place (stopped during a compaction)".into());
        }
        if self.staging_leftovers > 0 {
            p.push(format!("{} interrupted writes left in staging", self.staging_leftovers));
        }
        p
    }
}

/// Check (and with `repair`, fix) every sandbox under `root`. `progress(done, total)` is called
/// per sandbox.
pub fn fsck(root: &Path, repair: bool, mut progress: impl FnMut(usize, usize)) -> std::io::Result<Vec<SandboxReport>> {
    let sites = sandbox::sites(root)?;
    let mut out = Vec::with_capacity(sites.len());
    for (i, site) in sites.iter().enumerate() {
        progress(i + 1, sites.len());
        out.push(check_one(site, repair)?);
    }
    Ok(out)
}

fn check_one(site: &sandbox::Site, repair: bool) -> std::io::Result<SandboxReport> {
    let dir = &site.dir;
    let mut r = SandboxReport { dir: dir.to_path_buf(), ..SandboxReport::default() };
    let _claim = crate::sandbox::claim(site);
    let sb = match Sandbox::open_site(site) {
        Ok(sb) => Arc::new(sb),
        Err(OpenError::Busy(_) | OpenError::InUse(_)) => {
            r.busy = true;
            return Ok(r);
        }
        Err(OpenError::Io(e)) => return Err(e),
        Err(OpenError::Invalid(e)) => return Err(std::io::Error::other(e)),
    };
    r.real = scan(&sb)?;
    let jpath = dir.join(Journal::FILE);
    match std::fs::read(&jpath) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => r.journal_problem = Some("quota journal missing".into()),
        Err(e) => return Err(e),
        Ok(bytes) => match journal::replay_bytes(&bytes) {
            Ok(replay) => {
                let mut u = replay.usage;
                u.apply(journal::settle(&replay.pending, |e| crate::fs::measure_entry(&sb, e)));
                r.journal = Some(u);
                r.journal_torn = replay.truncated;
            }
            Err(why) => r.journal_problem = Some(why.to_string()),
        },
    }
    r.storage = storage::verify(&dir.join(sandbox::KV))?;
    r.staging_leftovers = std::fs::read_dir(dir.join(sandbox::STAGING)).map(|d| d.count() as u64).unwrap_or(0);
    if repair && !r.problems().is_empty() {
        if r.journal != Some(r.real) || r.journal_torn > 0 || r.journal_problem.is_some() {
            Journal::create(Arc::new(crate::io::StdIo), &jpath, r.real, true)?;
            r.repaired.push(format!("quota journal rewritten from the files: {} user / {} temp bytes", r.real.user, r.real.temp));
        }
        if r.storage.bad_tail > 0
            || r.storage.damaged > 0
            || r.storage.bad_header
            || r.storage.leftover_compact
            || r.storage.pending_next
        {
            let (_, rep) = storage::Store::open(&dir.join(sandbox::KV), storage::Durability::Power)?;
            r.repaired.push(format!(
                "storage log reopened: {} records kept, {} bytes cut{}",
                rep.records,
                rep.truncated_bytes,
                rep.corrupt_moved_to.as_ref().map(|p| format!(", damaged log kept as {}", p.display())).unwrap_or_default()
            ));
        }
        if r.staging_leftovers > 0 {
            for e in std::fs::read_dir(dir.join(sandbox::STAGING))?.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
            r.repaired.push(format!("{} staging leftovers removed", r.staging_leftovers));
        }
    }
    Ok(r)
}
