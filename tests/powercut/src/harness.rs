//! Mount, run a workload child with a cut armed, roll back (see `lib.rs`, "The harness").

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::fs::{Gate, PowerCutFs, Shared};
use crate::model::{CutMode, CutReport, Event};

/// How long a child may run before the harness calls it hung (kills it and panics).
const CHILD_TIMEOUT: Duration = Duration::from_secs(300);

/// Cut points a test enumerates per workload unless `WXFS_POWERCUT_CUTS` says otherwise.
const DEFAULT_CUTS: usize = 10;

/// Why this machine cannot run power-cut tests.
#[derive(Debug)]
pub struct Unavailable(pub String);

/// A mounted power-cut file system over a backing directory.
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    shared: Arc<Mutex<Shared>>,
    at: PathBuf,
    backing: PathBuf,
}

/// What a child did.
#[derive(Debug)]
pub struct Outcome {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The armed cut happened (the child was killed by it).
    pub tripped: bool,
    /// The counted calls that went through, in order.
    pub events: Vec<Event>,
}

impl Outcome {
    /// The lines the child printed that start with `@@`, from the `@@` on (libtest may print
    /// `test name ... ` before the first one).
    pub fn reports(&self) -> Vec<&str> {
        self.stdout.lines().filter_map(|l| l.find("@@").map(|i| &l[i..])).collect()
    }

    /// Killed by a signal (the cut), rather than exited.
    pub fn killed(&self) -> bool {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal().is_some()
    }
}

/// Mounts the power-cut file system over `backing` at `at` (both directories, `at` empty),
/// served by a thread of this process. Everything in `backing` is durable at mount.
pub fn mount(backing: &Path, at: &Path) -> Result<Mount, Unavailable> {
    if !Path::new("/dev/fuse").exists() {
        return Err(Unavailable("/dev/fuse is missing (no FUSE in this kernel or container)".into()));
    }
    raise_fd_limit();
    let shared = Shared::new(backing).unwrap_or_else(|e| panic!("backing directory {}: {e}", backing.display()));
    let shared = Arc::new(Mutex::new(shared));
    std::fs::create_dir_all(at).unwrap_or_else(|e| panic!("mount point {}: {e}", at.display()));
    let mut config = fuser::Config::default();
    config.mount_options =
        vec![fuser::MountOption::FSName("wxfs-powercut".into()), fuser::MountOption::Subtype("powercut".into())];
    let session = fuser::spawn_mount(PowerCutFs(shared.clone()), at, &config).map_err(|e| {
        Unavailable(format!(
            "mounting FUSE at {} was refused: {e} (root, or fusermount3 from the fuse3 package, is needed)",
            at.display()
        ))
    })?;
    Ok(Mount { session: Some(session), shared, at: at.to_path_buf(), backing: backing.to_path_buf() })
}

/// Whether this machine can mount the file system: a trial mount of an empty directory under
/// `scratch`, removed again. The tests' harness asks it once, so that a machine without FUSE shows
/// them as skipped (ignored), never as passed.
pub fn probe(scratch: &Path) -> Result<(), Unavailable> {
    let base = scratch.join(format!("powercut-probe-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let backing = base.join("backing");
    std::fs::create_dir_all(&backing).map_err(|e| Unavailable(format!("{}: {e}", backing.display())))?;
    let result = mount(&backing, &base.join("mnt")).map(drop);
    let _ = std::fs::remove_dir_all(&base);
    result
}

/// [`mount`], or `None` after printing `skipped: <why>` where FUSE is unavailable; under CI (`CI`
/// set) that is a failure instead.
pub fn mount_or_skip(backing: &Path, at: &Path) -> Option<Mount> {
    match mount(backing, at) {
        Ok(m) => Some(m),
        Err(Unavailable(why)) => {
            assert!(std::env::var_os("CI").is_none(), "CI: the power-cut tests need FUSE: {why}");
            // Straight to stderr: libtest does not capture it, so the skip is seen.
            let _ = writeln!(std::io::stderr(), "skipped: {why}");
            None
        }
    }
}

impl Mount {
    /// Where the file system is mounted.
    pub fn path(&self) -> &Path {
        &self.at
    }

    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `cmd` as the workload: in a process group of its own, counting its calls from 0;
    /// with `cut_after: Some(k)`, the call after the `k`-th is the power cut (the child is
    /// killed, every call fails from then on). Returns once the child has ended.
    pub fn run(&self, mut cmd: Command, cut_after: Option<u64>) -> Outcome {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = {
            let mut s = self.shared();
            assert!(!s.gate.tripped, "this mount was cut: roll it back (Mount::cut) and mount again");
            s.gate = Gate { armed: true, cut_after, ..Gate::default() };
            // Spawned under the lock, so no call of it is served before the gate knows its group.
            let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
            s.gate.victim = Some(child.id() as i32);
            child
        };
        let pid = rustix::process::Pid::from_child(&child);
        let drain = |r: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut v = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut v);
                }
                String::from_utf8_lossy(&v).into_owned()
            })
        };
        let out = drain(child.stdout.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        let err = drain(child.stderr.take().map(|r| Box::new(r) as Box<dyn Read + Send>));
        // Wait for its end without reaping it: until the gate forgets its group, the group id
        // must not be free for another process to take.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let opts = rustix::process::WaitIdOptions::EXITED | rustix::process::WaitIdOptions::NOWAIT;
            let _ = tx.send(rustix::process::waitid(rustix::process::WaitId::Pid(pid), opts));
        });
        if rx.recv_timeout(CHILD_TIMEOUT).is_err() {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = child.wait();
            panic!("the workload {cmd:?} ran for more than {CHILD_TIMEOUT:?}: killed");
        }
        let (tripped, events) = {
            let mut s = self.shared();
            s.gate.armed = false;
            s.gate.victim = None;
            (s.gate.tripped, std::mem::take(&mut s.gate.events))
        };
        let status = child.wait().expect("reap the workload");
        Outcome { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default(), tripped, events }
    }

    /// The power cut: nothing more reaches the backing directory, the file system is unmounted,
    /// and the backing directory is replaced by what the cut leaves.
    pub fn cut(mut self, mode: CutMode) -> CutReport {
        self.freeze();
        self.stop();
        let mut s = self.shared();
        let out = sibling(&self.backing, "cut");
        let report =
            s.model.cut(mode, &out).unwrap_or_else(|e| panic!("writing the state after the cut to {}: {e}", out.display()));
        drop(s);
        let old = sibling(&self.backing, "before-cut");
        std::fs::rename(&self.backing, &old).expect("move the backing directory aside");
        std::fs::rename(&out, &self.backing).expect("put the state after the cut in its place");
        std::fs::remove_dir_all(&old).expect("remove the state before the cut");
        report
    }

    /// A clean unmount: everything written stays in the backing directory.
    pub fn unmount(mut self) {
        self.stop();
    }

    fn freeze(&self) {
        let mut s = self.shared();
        s.gate.tripped = true;
        s.gate.victim = None;
    }

    fn stop(&mut self) {
        let Some(session) = self.session.take() else { return };
        if session.umount_and_join().is_err() {
            // Still busy: detach it; its thread ends with the last reference, and a frozen
            // gate lets nothing through meanwhile.
            self.freeze();
            let _ = rustix::mount::unmount(&self.at, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.session.is_some() {
            // A test that failed mid-run: leave no mount behind.
            self.freeze();
            self.stop();
        }
    }
}

fn sibling(dir: &Path, tag: &str) -> PathBuf {
    let mut name = dir.file_name().expect("a named directory").to_os_string();
    name.push(format!(".{tag}"));
    let p = dir.with_file_name(name);
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// The command that runs the ignored test `name` of the current test binary alone, with its
/// output not captured: how a test starts a child that plays the workload or the check.
pub fn child_command(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("the test binary"));
    c.args(["--exact", name, "--ignored", "--nocapture", "--test-threads=1"]);
    c
}

/// Copies the tree `from` to the new directory `to` (files, directories, symlinks; hard links
/// become copies): a template state, fresh for each run.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap_or_else(|e| panic!("{}: {e}", to.display()));
    for e in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let e = e.expect("read_dir");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().expect("file type");
        if t.is_dir() {
            copy_tree(&src, &dst);
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).expect("readlink"), &dst).expect("symlink");
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        }
    }
}

/// Which cut points (`cut_after` values, 0 to the number of events) to try for a workload whose
/// uncut run made `events`: all of them when they are at most `WXFS_POWERCUT_CUTS` (default 10;
/// `all` for no bound); else the points on either side of every sync first, then others evenly
/// spread, in order.
pub fn cut_points(events: &[Event]) -> Vec<u64> {
    let total = events.len() as u64;
    let limit = match std::env::var("WXFS_POWERCUT_CUTS").as_deref() {
        Ok("all") => usize::MAX,
        Ok(n) => n.parse().unwrap_or_else(|_| panic!("WXFS_POWERCUT_CUTS={n}: a number or `all`")),
        Err(_) => DEFAULT_CUTS,
    };
    let all: Vec<u64> = (0..=total).collect();
    if all.len() <= limit {
        return all;
    }
    let mut pick: std::collections::BTreeSet<u64> = [0, total].into();
    for e in events.iter().filter(|e| e.sync) {
        pick.insert(e.n - 1);
        pick.insert(e.n);
    }
    let spread = |from: Vec<u64>, n: usize| -> Vec<u64> { (0..n).map(|i| from[i * from.len() / n]).collect() };
    if pick.len() > limit {
        return spread(pick.into_iter().collect(), limit);
    }
    let rest: Vec<u64> = all.into_iter().filter(|k| !pick.contains(k)).collect();
    let room = limit - pick.len();
    pick.extend(spread(rest, room));
    pick.into_iter().collect()
}

/// One descriptor a node: let this process hold as many as its hard limit allows.
fn raise_fd_limit() {
    let r = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if r.current < r.maximum {
        let _ = rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit { current: r.maximum, maximum: r.maximum },
        );
    }
}
