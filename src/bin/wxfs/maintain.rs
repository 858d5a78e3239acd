//! `wxfs gc`, `wxfs fsck` and `wxfs rm`: the maintenance a host runs over a root.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use wxfs::sandbox::OpenError;
use wxfs::Config;

use crate::inspect::{existing_root, existing_sandbox, print_json};
use crate::progress;

/// `wxfs fsck`'s exit status when no problem is left but some sandboxes were not checked.
pub const FSCK_SKIPPED: u8 = 3;

/// A size as `gc` takes it: bytes (`4096`), or a number with a unit: `KB`, `MB`, `GB`, `TB`
/// (powers of 1000) or `KiB`, `MiB`, `GiB`, `TiB` (powers of 1024), any case, a fraction allowed
/// (`1.5GB`, rounded down to whole bytes); `B` is bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    const UNITS: &[(&str, u64)] = &[
        ("", 1),
        ("b", 1),
        ("k", 1000),
        ("kb", 1000),
        ("m", 1_000_000),
        ("mb", 1_000_000),
        ("g", 1_000_000_000),
        ("gb", 1_000_000_000),
        ("t", 1_000_000_000_000),
        ("tb", 1_000_000_000_000),
        ("kib", 1 << 10),
        ("mib", 1 << 20),
        ("gib", 1 << 30),
        ("tib", 1 << 40),
    ];
    let bad = || {
        "expected bytes (4096) or a size with a unit, as 512MiB, 6GiB or 1.5GB (KB, MB, GB, TB are powers of 1000; \
         KiB, MiB, GiB, TiB of 1024)"
            .to_string()
    };
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim_start().to_ascii_lowercase());
    let &(_, mult) = UNITS.iter().find(|(u, _)| *u == unit).ok_or_else(bad)?;
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // A fraction needs digits, and a unit: there is no half byte.
    if number.contains('.') && (frac.is_empty() || frac.len() > 9 || mult == 1) {
        return Err(bad());
    }
    let too_big = || format!("{text} is more than {} bytes", u64::MAX);
    let whole: u128 = whole.parse().map_err(|_| too_big())?;
    let frac_value = if frac.is_empty() {
        0
    } else {
        frac.parse::<u128>().map_err(|_| bad())? * u128::from(mult) / 10u128.pow(frac.len() as u32)
    };
    let bytes = whole.checked_mul(u128::from(mult)).and_then(|b| b.checked_add(frac_value)).ok_or_else(too_big)?;
    u64::try_from(bytes).map_err(|_| too_big())
}

/// `bytes` for a reader: `812 B`, `2.9 KiB`, `6 GiB` (powers of 1024, one decimal, rounded down).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut unit = 0;
    let mut scale = 1024u128;
    while unit + 1 < UNITS.len() && u128::from(bytes) >= scale * 1024 {
        unit += 1;
        scale *= 1024;
    }
    let tenths = u128::from(bytes) * 10 / scale;
    match tenths % 10 {
        0 => format!("{} {}", tenths / 10, UNITS[unit]),
        d => format!("{}.{d} {}", tenths / 10, UNITS[unit]),
    }
}

/// `limit` 0 means the default, as `wxfs_gc(root, 0, ...)` does: one meaning for both.
pub fn gc(root: &Path, limit: u64, as_json: bool) -> Result<(), String> {
    existing_root(root)?;
    let limit = if limit == 0 { wxfs::quota::Limits::default().temp_all_sandboxes } else { limit };
    let r = wxfs::session::gc(root, limit, progress("gc")).map_err(|e| format!("gc failed: {e}"))?;
    let rel = |dirs: &[std::path::PathBuf]| dirs.iter().map(|d| wxfs::events::relative(root, d)).collect::<Vec<_>>();
    if as_json {
        return print_json(&json!({
            "limit": limit, "before": r.before, "after": r.after,
            "trimmed": rel(&r.trimmed), "skipped": rel(&r.busy),
        }));
    }
    println!("temp files: {} before, {} after (limit {})", human(r.before), human(r.after), human(limit));
    for d in rel(&r.trimmed) {
        println!("  trimmed {d}");
    }
    for d in rel(&r.busy) {
        println!("  skipped (open) {d}");
    }
    Ok(())
}

/// Exit 0 when every sandbox was checked and none has a problem left, `Err` (exit 1) when one
/// has, [`FSCK_SKIPPED`] when none has but some were open elsewhere and so not checked.
pub fn fsck(root: &Path, repair: bool, as_json: bool) -> Result<ExitCode, String> {
    existing_root(root)?;
    let reports = wxfs::fsck::fsck(root, repair, progress("fsck")).map_err(|e| format!("fsck failed: {e}"))?;
    let (mut checked, mut skipped, mut bad) = (0, 0, 0);
    let mut rows = Vec::new();
    for r in &reports {
        let problems = r.problems();
        let unrepaired = !r.busy && !problems.is_empty() && r.repaired.is_empty();
        let status = match () {
            _ if r.busy => "skipped",
            _ if problems.is_empty() => "ok",
            _ if unrepaired => "problems",
            _ => "repaired",
        };
        if r.busy {
            skipped += 1;
        } else {
            checked += 1;
        }
        bad += usize::from(unrepaired);
        let mut row = json!({"sandbox": wxfs::events::relative(root, &r.dir), "status": status});
        if !r.busy {
            row["userBytes"] = json!(r.real.user);
            row["tempBytes"] = json!(r.real.temp);
            row["storageRecords"] = json!(r.storage.records);
            row["problems"] = json!(problems);
            row["repaired"] = json!(r.repaired);
        }
        rows.push(row);
    }
    if as_json {
        print_json(&json!({"sandboxes": rows, "checked": checked, "skipped": skipped, "unrepaired": bad}))?;
    } else {
        for (r, row) in reports.iter().zip(&rows) {
            let problems = r.problems();
            let state = match row["status"].as_str() {
                Some("skipped") => "open elsewhere, skipped (not checked)".to_string(),
                Some("ok") => {
                    format!("ok ({} user bytes, {} temp bytes, {} storage records)", r.real.user, r.real.temp, r.storage.records)
                }
                _ => format!("{} problem(s)", problems.len()),
            };
            println!("{}: {state}", row["sandbox"].as_str().unwrap_or(""));
            for p in &problems {
                println!("  - {p}");
            }
            for f in &r.repaired {
                println!("  + {f}");
            }
        }
        println!("{checked} checked, {skipped} skipped (open elsewhere), {bad} with unrepaired problems");
    }
    if bad > 0 {
        Err("fsck found problems; run with --repair to fix them".into())
    } else if skipped > 0 {
        eprintln!("wxfs: {skipped} sandbox(es) open in another process were not checked; run fsck again when they are closed");
        Ok(ExitCode::from(FSCK_SKIPPED))
    } else {
        Ok(ExitCode::SUCCESS)
    }
}

/// Removes the sandbox `cfg` names through the library (`wxfs::session::remove_sandbox_of`, as
/// `wxfs_remove_sandbox`): refused while it is open, "no such sandbox" when there is none.
pub fn rm(cfg: &Config) -> Result<(), String> {
    existing_root(&cfg.root)?;
    let rel = wxfs::events::relative(&cfg.root, &cfg.sandbox_dir());
    match wxfs::session::remove_sandbox_of(cfg) {
        Ok(true) => {
            println!("removed {rel}");
            Ok(())
        }
        Ok(false) => Err(match existing_sandbox(cfg) {
            Err(why) => format!("no such sandbox: {why}"),
            Ok(_) => format!("no such sandbox: {rel}"),
        }),
        Err(e @ (OpenError::Busy(_) | OpenError::InUse(_))) => {
            Err(format!("{rel} is open, not removed ({e}); close the mini-program first"))
        }
        Err(e) => Err(format!("{rel} not removed: {e}")),
    }
}
