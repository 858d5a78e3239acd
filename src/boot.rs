//! Which boot of the machine this is: the one operating-system query outside `ffi` that needs
//! `unsafe` (Apple's `sysctlbyname`), kept here so that every other module stays safe.
//!
//! `process` durability leaves writes in the page cache. While the machine that wrote them is up,
//! the files and the quota journal agree, whatever happened to the process; after a power cut,
//! each may have lost a different part. A sandbox therefore records the boot it was last written
//! in (`fs::restart`), and open recounts its usage from the files when that boot has ended
//! (docs/design.md §5).

/// An identity of the running boot of the machine: the same for every process until the machine
/// restarts, different after. `None` where the system gives none (then every open in `process`
/// durability recounts).
///
/// The environment variable `WXFS_BOOT_ID`, when set, replaces it: the power-cut tests use it to
/// play a restart without one.
pub fn id() -> Option<String> {
    if let Some(v) = std::env::var_os("WXFS_BOOT_ID") {
        return v.into_string().ok().filter(|s| !s.is_empty());
    }
    system()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn system() -> Option<String> {
    // A random UUID the kernel draws at boot (readable by apps on Android too).
    let s = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

#[cfg(target_vendor = "apple")]
fn system() -> Option<String> {
    // The kernel's boot time, to the microsecond: fixed for the life of the boot.
    let mut tv = libc::timeval { tv_sec: 0, tv_usec: 0 };
    let mut len: libc::size_t = std::mem::size_of::<libc::timeval>();
    // SAFETY: the name is a NUL-terminated literal; `tv` is a live, writable `timeval` and `len`
    // holds its exact size, which is what `kern.boottime` writes (the kernel writes at most
    // `len` bytes and updates `len`); no new value is set (NULL, 0).
    let rc = unsafe {
        libc::sysctlbyname(c"kern.boottime".as_ptr(), (&mut tv as *mut libc::timeval).cast(), &mut len, std::ptr::null_mut(), 0)
    };
    (rc == 0 && len == std::mem::size_of::<libc::timeval>()).then(|| format!("{}.{:06}", tv.tv_sec, tv.tv_usec))
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn system() -> Option<String> {
    None
}
