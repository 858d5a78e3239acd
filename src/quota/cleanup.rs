//! Cleanup policies (docs/wechat-behaviour.md §5.1): temp files beyond what may be kept go, least recently
//! used first; across sandboxes, whole temp areas go, least recently used sandbox first.

/// Something that can be removed to free space: its name, size and last use (seconds or any
/// monotonic clock; only the order matters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate<K> {
    pub key: K,
    pub size: u64,
    pub last_use: (i64, i64),
}

/// The candidates to remove, in removal order, so that `total` drops to at most `keep`.
pub fn lru_victims<K: Clone>(mut items: Vec<Candidate<K>>, total: u64, keep: u64) -> Vec<Candidate<K>> {
    if total <= keep {
        return Vec::new();
    }
    items.sort_by_key(|c| c.last_use);
    let mut left = total;
    let mut out = Vec::new();
    for c in items {
        if left <= keep {
            break;
        }
        left = left.saturating_sub(c.size);
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(key: &'static str, size: u64, t: i64) -> Candidate<&'static str> {
        Candidate { key, size, last_use: (t, 0) }
    }

    #[test]
    fn oldest_first_until_under_the_limit() {
        let items = vec![c("new", 100, 30), c("old", 100, 10), c("mid", 100, 20)];
        let v: Vec<_> = lru_victims(items.clone(), 300, 150).into_iter().map(|c| c.key).collect();
        assert_eq!(v, ["old", "mid"]);
        assert!(lru_victims(items.clone(), 300, 300).is_empty());
        let v: Vec<_> = lru_victims(items, 300, 0).into_iter().map(|c| c.key).collect();
        assert_eq!(v, ["old", "mid", "new"]);
    }
}
