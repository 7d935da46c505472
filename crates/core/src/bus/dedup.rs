//! Which notification ids were already printed, in bounded memory.
//!
//! Why a set and not just "the max id": Odoo's ids are not monotonic across batches. A transaction
//! that commits late is delivered with an id lower than ones already sent (up to ~10 s late,
//! §4.2), so "id ≤ max" would drop it; and the server does resend ids we have seen (a new socket
//! subscribed with `last = 0` replays the last 50 s; missed presences are re-sent). So we keep the
//! last `window` ids in arrival order (a ring) plus a hash set over them.
//!
//! Ids that fell out of the window: for an id that is neither remembered nor above the highest
//! forgotten id, we cannot know whether we printed it. We answer "seen" (see
//! [`SeenIds::first_sighting`]): with a window of 4096 that only happens when more than 4096
//! notifications arrived since, far beyond the ~10 s in which Odoo delivers late commits, and it
//! matches the protocol's own resume rule (`last = max` also loses older late commits). A rare
//! loss of a very stale notification was preferred to printing a burst of duplicates.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// How many recent ids `tail` remembers by default.
pub const DEFAULT_WINDOW: usize = 4096;

/// The bounded memory of ids already seen, and the highest one (the resume point).
#[derive(Debug, Clone)]
pub struct SeenIds {
    window: usize,
    /// Remembered ids, oldest first: the eviction order.
    order: VecDeque<u64>,
    remembered: HashSet<u64, BuildHasherDefault<IdHasher>>,
    /// Every id at or below this one counts as seen: the highest id evicted from the window, or
    /// the resume point given to [`SeenIds::seed`], whichever is higher.
    floor: Option<u64>,
    max: Option<u64>,
}

impl SeenIds {
    /// Remembers the last `window` ids (at least 1). Memory grows with the ids seen, up to the
    /// window: a quiet stream costs a few hundred bytes, not the full window (a tail over a
    /// thousand profiles holds a thousand of these; a full 8192 window is ~350 KiB).
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        SeenIds {
            window,
            order: VecDeque::new(),
            remembered: HashSet::default(),
            floor: None,
            max: None,
        }
    }

    /// True the first time `id` is offered, false for a repeat. Records the id and raises the max.
    ///
    /// Exact for every id above the highest id that fell out of the window (and above the seeded
    /// resume point); ids at or below that floor that are not remembered count as seen (module
    /// docs say why).
    pub fn first_sighting(&mut self, id: u64) -> bool {
        // Above the highest id seen (the usual case: Odoo's ids grow), it is neither remembered
        // nor at or below the floor, which never passes the highest: no lookup needed.
        let above_all =
            self.max.is_some_and(|max| id > max) && self.floor.is_none_or(|floor| id > floor);
        if !above_all
            && (self.floor.is_some_and(|floor| id <= floor) || self.remembered.contains(&id))
        {
            return false;
        }
        if self.order.len() + 1 == self.window && self.remembered.capacity() < self.window * 2 {
            // About to be full: from now on every id evicts one. Twice the window gives the
            // set's table room to clean up the tombstones evictions leave in place, instead of
            // regrowing (allocated once, when a stream is busy enough to need it).
            self.remembered
                .reserve(self.window * 2 - self.remembered.len());
            self.order.reserve_exact(self.window - self.order.len());
        }
        if self.order.len() == self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.remembered.remove(&oldest);
            self.floor = Some(self.floor.map_or(oldest, |floor| floor.max(oldest)));
        }
        self.order.push_back(id);
        self.remembered.insert(id);
        self.max = Some(self.max.map_or(id, |max| max.max(id)));
        true
    }

    /// The highest id seen or seeded: what to send as `last` when (re)subscribing.
    pub fn max(&self) -> Option<u64> {
        self.max
    }

    /// Starts after a resume point (`--after-id`, `--resume`): ids ≤ `last` count as seen, and
    /// `max()` is at least `last`. `seed(0)` means "no resume point" and changes nothing.
    ///
    /// Caveat for the caller: if the server's ids restarted lower (database restored or
    /// switched, so Odoo replaced our too-high `last` by 0, §3.2), everything new is ≤ `last`
    /// and would count as seen; a stream that receives ids ≤ the `last` it subscribed with on a
    /// fresh connection should [`SeenIds::reset`].
    pub fn seed(&mut self, last: u64) {
        if last == 0 {
            return;
        }
        self.floor = Some(self.floor.map_or(last, |floor| floor.max(last)));
        self.max = Some(self.max.map_or(last, |max| max.max(last)));
    }

    /// Forgets everything (keeps the allocated memory).
    pub fn reset(&mut self) {
        self.order.clear();
        self.remembered.clear();
        self.floor = None;
        self.max = None;
    }

    /// How many ids are remembered individually (≤ the window).
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The window size given to [`SeenIds::new`] (at least 1).
    pub fn window(&self) -> usize {
        self.window
    }
}

/// Hashes an id with one multiplication instead of SipHash.
///
/// Why: callgrind put SipHash at ~6% of the whole `tail -o ndjson` path (decode included). The
/// keys are sequence numbers from the server we are logged in to, in a set of bounded size, so
/// the worst a hostile server could do with crafted ids is slow down its own stream. Folding the
/// high half into the low bits keeps ids that differ only in high bits apart in the table.
#[derive(Debug, Clone, Copy, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; this keeps the hasher correct for anything else.
        for &byte in bytes {
            self.write_u64(self.0.rotate_left(8) ^ u64::from(byte));
        }
    }

    fn write_u64(&mut self, id: u64) {
        let product = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = product ^ (product >> 32);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for SeenIds {
    fn default() -> Self {
        SeenIds::new(DEFAULT_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(seen: &mut SeenIds, ids: &[u64]) -> Vec<u64> {
        ids.iter()
            .copied()
            .filter(|&id| seen.first_sighting(id))
            .collect()
    }

    #[test]
    fn repeats_within_and_across_batches_are_dropped() {
        let mut seen = SeenIds::new(16);
        assert_eq!(seen.max(), None);
        assert_eq!(fresh(&mut seen, &[12, 14, 15]), vec![12, 14, 15]);
        assert_eq!(fresh(&mut seen, &[14, 15, 16, 16]), vec![16]);
        assert_eq!(seen.max(), Some(16));
    }

    #[test]
    fn late_commits_with_lower_ids_are_new_once() {
        // §4.2: a transaction that committed late arrives after higher ids.
        let mut seen = SeenIds::new(16);
        assert_eq!(fresh(&mut seen, &[20, 22, 23]), vec![20, 22, 23]);
        assert_eq!(fresh(&mut seen, &[21]), vec![21]);
        assert_eq!(fresh(&mut seen, &[21, 23]), Vec::<u64>::new());
        assert_eq!(seen.max(), Some(23), "the max is not the last id");
    }

    #[test]
    fn presence_replay_on_a_new_socket_is_deduplicated() {
        // Real sequence (g.txt): ids 28..=30 seen, then a new socket replays 28..=32.
        let mut seen = SeenIds::default();
        assert_eq!(fresh(&mut seen, &[28, 29, 30]), vec![28, 29, 30]);
        assert_eq!(fresh(&mut seen, &[28, 29, 30, 31, 32]), vec![31, 32]);
    }

    #[test]
    fn seed_marks_the_resume_point_as_seen() {
        let mut seen = SeenIds::new(8);
        seen.seed(100);
        assert_eq!(seen.max(), Some(100));
        assert_eq!(fresh(&mut seen, &[99, 100, 101]), vec![101]);
        seen.seed(50);
        assert_eq!(seen.max(), Some(101), "a lower seed never lowers the max");
        assert!(seen.first_sighting(102));

        let mut unseeded = SeenIds::new(8);
        unseeded.seed(0);
        assert_eq!(unseeded.max(), None);
        assert!(unseeded.first_sighting(1));
    }

    #[test]
    fn ids_above_the_forgotten_floor_stay_exact_after_eviction() {
        let mut seen = SeenIds::new(4);
        assert_eq!(
            fresh(&mut seen, &[10, 20, 30, 40, 50]),
            vec![10, 20, 30, 40, 50]
        );
        // 10 fell out: the floor is 10. 35 was never seen and is above it.
        assert!(seen.first_sighting(35));
        // 20 fell out when 35 came in; the floor is now 20.
        assert!(!seen.first_sighting(20));
        // Never seen, but below the floor: counted as seen (documented choice).
        assert!(!seen.first_sighting(15));
        assert!(!seen.first_sighting(5));
        // Remembered ids are still recognised.
        assert!(!seen.first_sighting(50));
        assert!(seen.first_sighting(60));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn memory_stays_bounded_on_a_long_stream() {
        let mut seen = SeenIds::new(64);
        // A stream that saw nothing holds no table (a tail over many profiles has many).
        assert_eq!(seen.remembered.capacity(), 0);
        assert_eq!(seen.order.capacity(), 0);
        let mut capacity_full = None;
        let mut printed = 0u64;
        for id in 1..=200_000u64 {
            if seen.len() == 64 && capacity_full.is_none() {
                capacity_full = Some(seen.remembered.capacity());
            }
            // Every tenth id commits late (arrives 5 ids later); every id is delivered twice.
            if id % 10 != 0 {
                printed += u64::from(seen.first_sighting(id));
                assert!(!seen.first_sighting(id));
            }
            if id % 10 == 5 && id > 10 {
                printed += u64::from(seen.first_sighting(id - 5));
                assert!(!seen.first_sighting(id - 5));
            }
        }
        assert_eq!(
            printed,
            200_000 - 1,
            "every id once (200000 itself never came)"
        );
        assert_eq!(seen.len(), 64);
        assert_eq!(seen.remembered.len(), 64);
        // `capacity()` is entries + free slots, and tombstones use up free slots until the next
        // in-place cleanup, so it may read lower, never higher, if the table did not regrow.
        let capacity_full = capacity_full.expect("the window filled");
        assert!(capacity_full >= 128, "{capacity_full}");
        assert!(
            seen.remembered.capacity() <= capacity_full,
            "the set regrew: {} > {capacity_full}",
            seen.remembered.capacity()
        );
        assert_eq!(seen.order.capacity(), 64);
        assert_eq!(seen.max(), Some(199_999));
    }

    #[test]
    fn ids_that_differ_only_in_high_bits_hash_apart() {
        let hash = |id: u64| {
            let mut h = IdHasher::default();
            h.write_u64(id);
            h.finish()
        };
        let low_bits: HashSet<u64> = (1..=1024u64).map(|m| hash(m << 20) & 0xFFF).collect();
        assert!(
            low_bits.len() > 500,
            "{} distinct bucket indexes",
            low_bits.len()
        );
        let mut seen = SeenIds::new(1024);
        assert!((1..=1024u64).all(|m| seen.first_sighting(m << 20)));
        assert!((1..=1024u64).all(|m| !seen.first_sighting(m << 20)));
    }

    #[test]
    fn window_of_zero_means_one() {
        let mut seen = SeenIds::new(0);
        assert_eq!(seen.window(), 1);
        assert!(seen.first_sighting(5));
        assert!(!seen.first_sighting(5));
        assert!(seen.first_sighting(6));
        assert!(!seen.first_sighting(5));
        assert!(seen.first_sighting(7));
    }

    #[test]
    fn reset_forgets_everything() {
        let mut seen = SeenIds::new(8);
        seen.seed(1000);
        assert!(!seen.first_sighting(5));
        seen.reset();
        assert!(seen.is_empty());
        assert_eq!(seen.max(), None);
        assert!(seen.first_sighting(5));
    }
}
