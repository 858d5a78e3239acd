//! Runs every case of the conformance suite (tests/conformance/cases.json, format in
//! tests/conformance/README.md) through the exported C ABI of the built shared library, loaded at
//! run time. `WXFS_CONFORMANCE_CASES=path` runs another file of the same format instead.

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use common::abi::Lib;
use serde_json::{json, Map, Value};

fn cases_path() -> std::path::PathBuf {
    if let Ok(p) = std::env::var("WXFS_CONFORMANCE_CASES") {
        return p.into();
    }
    common::repo_dir().join("tests/conformance/cases.json")
}

fn merge(base: &mut Value, over: &Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

fn substitute_str(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{{k}}}"), v);
    }
    out
}

fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute_str(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), substitute(x, vars))).collect()),
        other => other.clone(),
    }
}

fn is_matcher(o: &Map<String, Value>) -> bool {
    o.keys().any(|k| k.starts_with('$'))
}

fn num_eq(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Match `expected` against `actual` (None = absent). `at` names the place for messages.
fn matches(expected: &Value, actual: Option<&Value>, at: &str) -> Result<(), String> {
    match expected {
        Value::Object(o) if is_matcher(o) => {
            for (op, arg) in o {
                let ok = match (op.as_str(), actual) {
                    ("$absent", a) => a.is_none() == arg.as_bool().unwrap_or(true),
                    (_, None) => false,
                    ("$prefix", Some(Value::String(s))) => s.starts_with(arg.as_str().unwrap_or("")),
                    ("$contains", Some(Value::String(s))) => s.contains(arg.as_str().unwrap_or("")),
                    ("$regex", Some(Value::String(s))) => regex_lite(arg.as_str().unwrap_or(""), s),
                    ("$in", Some(a)) => arg.as_array().map(|l| l.iter().any(|x| num_eq(x, a))).unwrap_or(false),
                    ("$set", Some(Value::Array(a))) => {
                        let want = arg.as_array().cloned().unwrap_or_default();
                        let mut left = a.clone();
                        want.len() == a.len()
                            && want.iter().all(|w| match left.iter().position(|x| num_eq(x, w)) {
                                Some(i) => {
                                    left.remove(i);
                                    true
                                }
                                None => false,
                            })
                    }
                    ("$lt", Some(a)) => matches!((a.as_f64(), arg.as_f64()), (Some(x), Some(y)) if x < y),
                    ("$gt", Some(a)) => matches!((a.as_f64(), arg.as_f64()), (Some(x), Some(y)) if x > y),
                    ("$mode", Some(a)) => {
                        let m = a.as_u64().unwrap_or(0) & 0o170000;
                        match arg.as_str() {
                            Some("file") => m == 0o100000,
                            Some("dir") => m == 0o040000,
                            _ => false,
                        }
                    }
                    ("$bytes", _) => return Err(format!("{at}: $bytes outside an object field")),
                    _ => false,
                };
                if !ok {
                    return Err(format!("{at}: expected {op} {arg}, got {}", abbreviated(actual)));
                }
            }
            Ok(())
        }
        Value::Object(o) => {
            let Some(Value::Object(act)) = actual else {
                return Err(format!("{at}: expected an object, got {}", abbreviated(actual)));
            };
            for (k, e) in o {
                let here = format!("{at}.{k}");
                if let Value::Object(eo) = e {
                    if let Some(b64) = eo.get("$bytes") {
                        let want = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap()).unwrap();
                        let got = native_buffer(act, k).ok_or_else(|| {
                            format!("{here}: no __nativeBuffers__ entry (result {})", Value::Object(act.clone()))
                        })?;
                        if got != want {
                            return Err(format!("{here}: bytes {:?} != expected {:?}", got, want));
                        }
                        continue;
                    }
                }
                matches(e, act.get(k), &here)?;
            }
            Ok(())
        }
        Value::Array(want) => {
            let Some(Value::Array(got)) = actual else {
                return Err(format!("{at}: expected an array, got {}", abbreviated(actual)));
            };
            if want.len() != got.len() {
                return Err(format!("{at}: expected {} elements, got {}", want.len(), Value::Array(got.clone())));
            }
            for (i, (w, g)) in want.iter().zip(got).enumerate() {
                matches(w, Some(g), &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        scalar => match actual {
            Some(a) if num_eq(scalar, a) => Ok(()),
            _ => Err(format!("{at}: expected {scalar}, got {}", abbreviated(actual))),
        },
    }
}

fn native_buffer(obj: &Map<String, Value>, key: &str) -> Option<Vec<u8>> {
    obj.get("__nativeBuffers__")?.as_array()?.iter().find_map(|e| {
        (e.get("key")?.as_str()? == key)
            .then(|| base64::engine::general_purpose::STANDARD.decode(e.get("base64")?.as_str()?).ok())?
    })
}

fn abbreviated(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".into(),
        Some(v) => {
            let s = v.to_string();
            if s.len() > 300 {
                format!("{}...", &s[..300])
            } else {
                s
            }
        }
    }
}

/// A small regex engine is enough for the suite's patterns (^ $ . [^/] + * \\. classes).
fn regex_lite(pattern: &str, text: &str) -> bool {
    #[derive(Debug)]
    enum Atom {
        Any,
        Lit(char),
        Class(bool, Vec<(char, char)>),
    }
    let mut atoms: Vec<(Atom, char)> = Vec::new(); // (atom, quantifier: '1', '+', '*', '?')
    let p: Vec<char> = pattern.chars().collect();
    let (anchored_start, mut i) = if p.first() == Some(&'^') { (true, 1) } else { (false, 0) };
    let mut anchored_end = false;
    while i < p.len() {
        let atom = match p[i] {
            '$' if i == p.len() - 1 => {
                anchored_end = true;
                i += 1;
                continue;
            }
            '.' => Atom::Any,
            '\\' => {
                i += 1;
                match p[i] {
                    'd' => Atom::Class(false, vec![('0', '9')]),
                    'w' => Atom::Class(false, vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]),
                    c => Atom::Lit(c),
                }
            }
            '[' => {
                i += 1;
                let neg = p[i] == '^';
                if neg {
                    i += 1;
                }
                let mut ranges = Vec::new();
                while p[i] != ']' {
                    let mut c = p[i];
                    if c == '\\' {
                        i += 1;
                        c = p[i];
                    }
                    if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&x| x != ']') {
                        ranges.push((c, p[i + 2]));
                        i += 3;
                    } else {
                        ranges.push((c, c));
                        i += 1;
                    }
                }
                Atom::Class(neg, ranges)
            }
            c => Atom::Lit(c),
        };
        i += 1;
        let q = match p.get(i) {
            Some(&c @ ('+' | '*' | '?')) => {
                i += 1;
                c
            }
            _ => '1',
        };
        atoms.push((atom, q));
    }
    fn one(a: &Atom, c: char) -> bool {
        match a {
            Atom::Any => true,
            Atom::Lit(l) => *l == c,
            Atom::Class(neg, r) => r.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *neg,
        }
    }
    fn go(atoms: &[(Atom, char)], t: &[char], end: bool) -> bool {
        let Some(((a, q), rest)) = atoms.split_first() else {
            return !end || t.is_empty();
        };
        let max = match q {
            '1' => 1,
            '?' => 1,
            _ => t.len(),
        };
        let min = if *q == '1' || *q == '+' { 1 } else { 0 };
        let mut n = 0;
        while n < max && n < t.len() && one(a, t[n]) {
            n += 1;
        }
        (min..=n).rev().any(|k| go(rest, &t[k..], end))
    }
    let t: Vec<char> = text.chars().collect();
    if anchored_start {
        go(&atoms, &t, anchored_end)
    } else {
        (0..=t.len()).any(|s| go(&atoms, &t[s..], anchored_end))
    }
}

struct Runner<'l> {
    lib: &'l Lib,
    root: std::path::PathBuf,
    base: Value,
    handles: HashMap<String, (u64, Value)>,
    vars: HashMap<String, String>,
}

impl Runner<'_> {
    fn open(&mut self, name: &str, config: &Value) -> Result<(), String> {
        let mut cfg = self.base.clone();
        merge(&mut cfg, config);
        let h = self.lib.open(&cfg).map_err(|rc| format!("open {name}: {rc}"))?;
        self.handles.insert(name.to_string(), (h, cfg));
        Ok(())
    }

    fn step(&mut self, step: &Value) -> Result<(), String> {
        let s = step.as_object().ok_or("step is not an object")?;
        if let Some(name) = s.get("reopen") {
            let name = name.as_str().unwrap_or("main");
            let (h, cfg) = self.handles.remove(name).ok_or(format!("reopen: no sandbox {name}"))?;
            assert_eq!(self.lib.close(h), 0);
            let h = self.lib.open(&cfg).map_err(|rc| format!("reopen {name}: {rc}"))?;
            self.handles.insert(name.to_string(), (h, cfg));
            return Ok(());
        }
        if let Some(name) = s.get("close") {
            let name = name.as_str().unwrap_or("main");
            let (h, _) = self.handles.remove(name).ok_or(format!("close: no sandbox {name}"))?;
            assert_eq!(self.lib.close(h), 0);
            return Ok(());
        }
        if let Some(name) = s.get("open") {
            let cfg = s.get("config").cloned().unwrap_or(json!({}));
            return self.open(name.as_str().unwrap(), &cfg);
        }
        let api = s.get("api").and_then(Value::as_str).ok_or("step without api")?;
        let on = s.get("on").and_then(Value::as_str).unwrap_or("main");
        let (h, _) = *self.handles.get(on).ok_or(format!("no sandbox {on}"))?;
        let (rc, result) = match s.get("rawArgs") {
            Some(raw) => self.lib.invoke_raw(h, api, substitute_str(raw.as_str().unwrap(), &self.vars).as_bytes()),
            None => self.lib.invoke(h, api, &substitute(s.get("args").unwrap_or(&json!({})), &self.vars)),
        };
        let expect = substitute(s.get("expect").unwrap_or(&json!({})), &self.vars);
        matches(&expect, Some(&result), api).map_err(|e| format!("{e}\n      result: {}", abbreviated(Some(&result))))?;
        match s.get("returns") {
            Some(m) => matches(m, Some(&json!(rc)), &format!("{api} return"))?,
            None => {
                let ok = expect.get("errMsg").and_then(Value::as_str).is_some_and(|m| m.ends_with(":ok"));
                if ok && rc != 0 {
                    return Err(format!("{api}: returned {rc}, expected 0"));
                }
                if !ok && rc == 0 {
                    return Err(format!("{api}: returned 0, expected non-zero\n      result: {}", abbreviated(Some(&result))));
                }
            }
        }
        if let Some(Value::Object(save)) = s.get("save") {
            for (var, field) in save {
                let v = result.get(field.as_str().unwrap()).ok_or(format!("{api}: save: no field {field}"))?;
                let text = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
                self.vars.insert(var.clone(), text);
            }
        }
        Ok(())
    }
}

#[test]
fn conformance_cases_pass_through_the_c_abi() {
    let path = cases_path();
    let suite: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let lib = Lib::load();
    let cases = suite["cases"].as_array().expect("cases");
    let failures = run_cases(&lib, cases);
    println!("conformance ({}): {} passed, {} failed", path.display(), cases.len() - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// The other platforms' cases (tests/conformance/platforms/<platform>.json): the same
/// format, each case's config naming its platform, each case citing its source.
#[test]
fn every_platforms_cases_pass_through_the_c_abi() {
    let dir = common::repo_dir().join("tests/conformance/platforms");
    let lib = Lib::load();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut seen = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for path in files.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let suite: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let platform = suite["platform"].as_str().expect("platform").to_string();
        let cases = suite["cases"].as_array().expect("cases");
        for case in cases {
            let name = case["name"].as_str().unwrap_or("?");
            assert!(case["source"].as_str().is_some_and(|s| s.len() > 10), "{}: case {name:?} cites no source", path.display());
            assert_eq!(case["config"]["platform"].as_str(), Some(platform.as_str()), "{name}: config.platform");
        }
        let f = run_cases(&lib, cases);
        report.push(format!("{platform}: {} passed, {} failed", cases.len() - f.len(), f.len()));
        failures.extend(f.into_iter().map(|e| format!("[{platform}] {e}")));
        seen.push(platform);
    }
    println!("platform conformance: {}", report.join("; "));
    for p in ["alipay", "douyin", "baidu", "qq"] {
        assert!(seen.iter().any(|s| s == p), "no cases for {p}");
    }
    assert!(failures.is_empty(), "{} cases failed:\n{}", failures.len(), failures.join("\n"));
}

/// Run cases; the failures, one line each.
fn run_cases(lib: &Lib, cases: &[Value]) -> Vec<String> {
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let root = common::fresh_dir("conf");
        let pkg = root.join("package");
        let sandboxes = root.join("root");
        std::fs::create_dir_all(&pkg).unwrap();
        if let Some(Value::Object(files)) = case.get("package") {
            common::write_tree(&pkg, files);
        }
        let base = json!({
            "root": sandboxes.to_str().unwrap(),
            "appId": "wx0000000000000001",
            "userId": "user-1",
            "packageDir": pkg.to_str().unwrap(),
        });
        let mut r = Runner { lib, root: root.clone(), base, handles: HashMap::new(), vars: HashMap::new() };
        let cfg = case.get("config").cloned().unwrap_or(json!({}));
        let mut result = r.open("main", &cfg);
        if result.is_ok() {
            for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
                if let Err(e) = r.step(step) {
                    result = Err(format!("step {i}: {e}"));
                    break;
                }
            }
        }
        for (_, (h, _)) in r.handles.drain() {
            lib.close(h);
        }
        let _ = std::fs::remove_dir_all(&r.root);
        if let Err(e) = result {
            failures.push(format!("- {name}: {e}"));
        }
    }
    failures
}

#[test]
fn the_matcher_itself_can_fail() {
    assert!(matches(&json!({"a": 1}), Some(&json!({"a": 2})), "x").is_err());
    assert!(matches(&json!({"a": {"$prefix": "ab"}}), Some(&json!({"a": "ba"})), "x").is_err());
    assert!(matches(&json!({"a": {"$absent": true}}), Some(&json!({"a": 1})), "x").is_err());
    assert!(matches(&json!([1, 2]), Some(&json!([1])), "x").is_err());
    assert!(matches(&json!({"a": {"$set": [1, 2]}}), Some(&json!({"a": [2, 2]})), "x").is_err());
    assert!(matches(
        &json!({"a": {"$bytes": "AQ=="}}),
        Some(&json!({"__nativeBuffers__": [{"key": "a", "base64": "Ag=="}]})),
        "x"
    )
    .is_err());
    assert!(regex_lite("^wxfile://tmp_[^/]+\\.txt$", "wxfile://tmp_abc.txt"));
    assert!(!regex_lite("^wxfile://tmp_[^/]+\\.txt$", "wxfile://tmp_a/b.txt"));
    assert!(!regex_lite("^wxfile://tmp_[^/]+\\.txt$", "wxfile://tmp_abc.txtx"));
    assert!(regex_lite("noSuchApi", "noSuchApi:fail unknown api"));
    assert!(regex_lite("^/.*\\.webp$", "/x/y.webp"));
    assert!(regex_lite(".+", "3"));
    assert!(!regex_lite(".+", ""));
}
