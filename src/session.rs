//! One open (user, app): its sandbox, file system and store, shared by every handle that opened it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::fs::{Durability, FileSystem};
use crate::quota::Limits;
use crate::sandbox::{OpenError, Protocol, Sandbox};
use crate::storage::{self, Store};

#[derive(Clone, Debug)]
pub struct Config {
    pub root: PathBuf,
    pub app_id: String,
    pub user_id: String,
    pub package_dir: Option<PathBuf>,
    pub protocol: Protocol,
    pub durability: Durability,
    pub limits: Limits,
}

impl Config {
    pub fn new(root: impl Into<PathBuf>, user_id: &str, app_id: &str) -> Config {
        Config {
            root: root.into(),
            app_id: app_id.to_string(),
            user_id: user_id.to_string(),
            package_dir: None,
            protocol: Protocol::Wxfile,
            durability: Durability::Process,
            limits: Limits::default(),
        }
    }
}

pub struct Session {
    /// The sandbox directory: the key of this session in `OPEN`.
    dir: PathBuf,
    pub config: Config,
    pub sandbox: Arc<Sandbox>,
    pub fs: FileSystem,
    pub store: Store,
}

/// Sandboxes open in this process, by directory: a second open shares the first (DESIGN.md §6).
static OPEN: Lazy<Mutex<HashMap<PathBuf, Weak<Session>>>> = Lazy::new(|| Mutex::new(HashMap::new()));

impl Session {
    pub fn open(config: Config) -> Result<Arc<Session>, OpenError> {
        let dir = crate::sandbox::sandbox_dir(&config.root, config.user_id.as_bytes(), config.app_id.as_bytes());
        let mut open = OPEN.lock();
        loop {
            match open.get(&dir) {
                Some(w) => match w.upgrade() {
                    Some(existing) => return Ok(existing),
                    // Its last handle is being closed on another thread: wait until it is gone.
                    None => {
                        drop(open);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        open = OPEN.lock();
                    }
                },
                None => break,
            }
        }
        let sandbox = Arc::new(Sandbox::open(
            &config.root,
            config.user_id.as_bytes(),
            config.app_id.as_bytes(),
            config.package_dir.as_deref(),
        )?);
        let fs = FileSystem::new(sandbox.clone(), config.protocol, config.limits, config.durability)?;
        let durability = match config.durability {
            Durability::Process => storage::Durability::Process,
            Durability::Power => storage::Durability::Power,
        };
        let (store, _report) = Store::open(&sandbox.kv_dir(), durability)?;
        let session = Arc::new(Session { dir: dir.clone(), config, sandbox, fs, store });
        open.insert(dir, Arc::downgrade(&session));
        Ok(session)
    }

    pub fn storage_limits(&self, encrypt: bool) -> storage::Limits {
        let l = &self.config.limits;
        if encrypt {
            // WeChat: encrypted values grow ~1.4x, so the limits become 0.7 MiB / 7.1 MiB.
            storage::Limits { item: l.storage_item * 7 / 10, total: l.storage_total * 71 / 100 }
        } else {
            storage::Limits { item: l.storage_item, total: l.storage_total }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A clean close leaves a checkpoint, so the next open replays nothing.
        let _ = self.fs.checkpoint();
        let _ = self.store.sync();
        // Release the process lock before leaving `OPEN`: an open waiting on this session may
        // take the sandbox the moment the entry is gone.
        self.sandbox.unlock();
        let mut open = OPEN.lock();
        if open.get(&self.dir).is_some_and(|w| w.strong_count() == 0) {
            open.remove(&self.dir);
        }
    }
}
