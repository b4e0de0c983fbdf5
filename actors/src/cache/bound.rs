use std::hash::Hash;

use lru::LruCache;

/// The bound on how much market data the process keeps: symbols in least-recently-used
/// order (`lru`), evicted whole while the process holds more values than its capacity.
///
/// Hits are served without touching this structure (they would serialise on its lock);
/// each symbol records its own last use, and eviction gives a symbol used since it was last
/// ordered a second chance (moves it to the front) instead of evicting it: the order is exact
/// for everything the router sees and "clock"-approximate for hits.
pub struct SymbolLru<K: Hash + Eq, V> {
    order: LruCache<K, Slot<V>>,
}

struct Slot<V> {
    value: V,
    /// The last use this slot's position reflects (Unix ms).
    ordered_at_ms: i64,
}

impl<K: Hash + Eq + Clone, V> SymbolLru<K, V> {
    pub fn new() -> Self {
        Self {
            order: LruCache::unbounded(),
        }
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Adds (or re-adds) `key` as the most recently used.
    pub fn insert(&mut self, key: K, value: V, now_ms: i64) {
        self.order.put(
            key,
            Slot {
                value,
                ordered_at_ms: now_ms,
            },
        );
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.order.pop(key).map(|slot| slot.value)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.order.iter().map(|(k, slot)| (k, &slot.value))
    }

    /// Evicts least recently used symbols while `over()` says the process holds too much,
    /// handing each to `evicted` (which must release its values so that `over` can change).
    /// `last_used_ms` reads a symbol's own record of its last use; a `pinned` symbol (one
    /// being watched) is never evicted.
    pub fn evict_while(
        &mut self,
        mut over: impl FnMut() -> bool,
        last_used_ms: impl Fn(&V) -> i64,
        pinned: impl Fn(&V) -> bool,
        mut evicted: impl FnMut(K, V),
    ) {
        // Each symbol gets at most one second chance per call, and each pinned one is passed
        // over once, so this ends.
        let mut second_chances = self.order.len();
        let mut passes = self.order.len();
        while over() {
            let Some((key, slot)) = self.order.pop_lru() else {
                return;
            };
            let used = last_used_ms(&slot.value);
            if pinned(&slot.value) {
                self.insert(key, slot.value, used.max(slot.ordered_at_ms));
                if passes == 0 {
                    return;
                }
                passes -= 1;
                continue;
            }
            if used > slot.ordered_at_ms && second_chances > 0 {
                second_chances -= 1;
                self.insert(key, slot.value, used);
                continue;
            }
            evicted(key, slot.value);
        }
    }
}

impl<K: Hash + Eq + Clone, V> Default for SymbolLru<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn evicts_least_recently_used_and_spares_symbols_hit_since() {
        // Values: (entries held, last used).
        let mut lru = SymbolLru::new();
        let used = [Cell::new(0i64), Cell::new(0), Cell::new(0)];
        lru.insert("a", 0usize, 1);
        lru.insert("b", 1usize, 2);
        lru.insert("c", 2usize, 3);
        used[0].set(1);
        used[1].set(2);
        used[2].set(3);
        // "a" was hit (recorded on the symbol, not in the LRU) after "b" and "c" were ordered.
        used[0].set(10);
        let held = Cell::new(3);
        let mut gone = Vec::new();
        lru.evict_while(
            || held.get() > 2,
            |i| used[*i].get(),
            |_| false,
            |key, _| {
                held.set(held.get() - 1);
                gone.push(key);
            },
        );
        assert_eq!(gone, vec!["b"], "a got a second chance");
        assert_eq!(lru.len(), 2);
        // Everything used since: one full round of second chances, then eviction goes on.
        used[0].set(20);
        used[2].set(20);
        let mut gone = Vec::new();
        lru.evict_while(
            || held.get() > 0,
            |i| used[*i].get(),
            |_| false,
            |key, _| {
                held.set(held.get() - 1);
                gone.push(key);
            },
        );
        assert_eq!(gone.len(), 2);
        assert!(lru.is_empty());
    }

    #[test]
    fn a_pinned_symbol_is_never_evicted() {
        let mut lru = SymbolLru::new();
        lru.insert("watched", 0usize, 1);
        lru.insert("idle", 1usize, 2);
        let held = Cell::new(2);
        let mut gone = Vec::new();
        lru.evict_while(
            || held.get() > 0,
            |_| 0,
            |i| *i == 0,
            |key, _| {
                held.set(held.get() - 1);
                gone.push(key);
            },
        );
        assert_eq!(
            gone,
            vec!["idle"],
            "the watched one stays though still over"
        );
        assert_eq!(lru.len(), 1);
    }
}
