//! What `encrypt: true` costs: setStorage and getStorage of the same item plain and encrypted,
//! through the bridge, and the open of a store of encrypted items (each is opened once to learn
//! its name). `cargo bench --bench encrypt`.

use std::time::{Duration, Instant};

use serde_json::json;
use wxfs::storage::sealed::EncryptionKey;
use wxfs::{bridge, Config, Session};

const N: usize = 20_000;
const ROUNDS: usize = 5;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn per_op(d: Duration) -> String {
    format!("{:.2} us", d.as_secs_f64() * 1e6 / N as f64)
}

fn main() {
    let root = std::env::temp_dir().join(format!("wxfs-bench-encrypt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let cfg = || {
        let mut c = Config::new(&root, "bench", "wxbench");
        c.encryption_key = Some(EncryptionKey([7; 16]));
        c
    };
    let s = Session::open(cfg()).unwrap();
    let value = "v".repeat(100);
    let args: Vec<(String, String)> = (0..N)
        .map(|i| {
            let plain = json!({"key": format!("k{i}"), "data": value}).to_string();
            let enc = json!({"key": format!("e{i}"), "data": value, "encrypt": true}).to_string();
            (plain, enc)
        })
        .collect();
    let gets: Vec<(String, String)> = (0..N)
        .map(|i| (json!({"key": format!("k{i}")}).to_string(), json!({"key": format!("e{i}"), "encrypt": true}).to_string()))
        .collect();
    let time = |api: &str, list: Vec<&str>| {
        median(
            (0..ROUNDS)
                .map(|_| {
                    let t = Instant::now();
                    for a in &list {
                        let (rc, _) = bridge::invoke_bytes(&s, api, a);
                        assert_eq!(rc, 0);
                    }
                    t.elapsed()
                })
                .collect(),
        )
    };
    let set_plain = time("setStorage", args.iter().map(|a| a.0.as_str()).collect());
    let set_enc = time("setStorage", args.iter().map(|a| a.1.as_str()).collect());
    let get_plain = time("getStorage", gets.iter().map(|a| a.0.as_str()).collect());
    let get_enc = time("getStorage", gets.iter().map(|a| a.1.as_str()).collect());
    println!("{N} items of 100 bytes, median of {ROUNDS} rounds, per call through bridge::invoke_bytes:");
    println!("  setStorage plain     {}", per_op(set_plain));
    println!("  setStorage encrypt   {}", per_op(set_enc));
    println!("  getStorage plain     {}", per_op(get_plain));
    println!("  getStorage encrypt   {}", per_op(get_enc));
    drop(s);
    let s = Session::open(Config::new(&root, "bench", "wxnokey")).unwrap();
    let set_nokey = median(
        (0..ROUNDS)
            .map(|_| {
                let t = Instant::now();
                for a in &args {
                    assert_eq!(bridge::invoke_bytes(&s, "setStorage", &a.0).0, 0);
                }
                t.elapsed()
            })
            .collect(),
    );
    println!("  setStorage plain, sandbox without a key   {}", per_op(set_nokey));
    drop(s);
    let t = Instant::now();
    let s = Session::open(cfg()).unwrap();
    let open = t.elapsed();
    assert_eq!(s.crypt.keys(&s.store).len(), 2 * N);
    println!("  open with {N} encrypted + {N} plain items: {:.1} ms", open.as_secs_f64() * 1e3);
    drop(s);
    let _ = std::fs::remove_dir_all(&root);
}
