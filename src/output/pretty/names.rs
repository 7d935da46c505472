//! Names of partners, guests and channels seen in earlier payloads, so a presence line can say
//! "Marc Demo is online" instead of "partner 7", and a typing line "#general" instead of "#1".
//!
//! Odoo only sends a name along with the records that need it (a new message carries its
//! author's `res.partner` record; presence updates carry just an id), so remembering them is
//! the only way to name the rest. Memory is bounded: at most [`CAPACITY`] names per model, each
//! cut to [`MAX_NAME_BYTES`]; past that the oldest learned name is forgotten first.

use std::collections::{HashMap, VecDeque};

/// Names remembered per model.
pub(super) const CAPACITY: usize = 1024;
/// Longer names are cut (at a character boundary): a line shows far less anyway.
pub(super) const MAX_NAME_BYTES: usize = 128;

/// What the pretty printer knows about names.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Names {
    pub partners: Bounded,
    pub guests: Bounded,
    pub channels: Bounded,
}

/// Id → name, at most [`CAPACITY`] entries, oldest forgotten first.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Bounded {
    /// Ids in the order they were first learned: the eviction order.
    order: VecDeque<u64>,
    names: HashMap<u64, Box<str>>,
}

impl Bounded {
    /// Remembers `name` for `id` (an empty name teaches nothing). Allocates only when the name
    /// is new or changed.
    pub fn learn(&mut self, id: u64, name: &str) {
        let name = clip(name);
        if name.is_empty() {
            return;
        }
        if let Some(known) = self.names.get_mut(&id) {
            if **known != *name {
                *known = name.into();
            }
            return;
        }
        if self.order.len() >= CAPACITY
            && let Some(oldest) = self.order.pop_front()
        {
            self.names.remove(&oldest);
        }
        self.order.push_back(id);
        self.names.insert(id, name.into());
    }

    pub fn get(&self, id: u64) -> Option<&str> {
        self.names.get(&id).map(|n| &**n)
    }

    pub fn contains(&self, id: u64) -> bool {
        self.names.contains_key(&id)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// At most [`MAX_NAME_BYTES`] bytes of `name`, cut at a character boundary.
fn clip(name: &str) -> &str {
    if name.len() <= MAX_NAME_BYTES {
        return name;
    }
    let mut cut = MAX_NAME_BYTES;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    &name[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_updates_and_ignores_empty_names() {
        let mut names = Bounded::default();
        names.learn(7, "Marc Demo");
        names.learn(8, "");
        assert_eq!(names.get(7), Some("Marc Demo"));
        assert_eq!(names.get(8), None);
        names.learn(7, "Marc D.");
        assert_eq!(names.get(7), Some("Marc D."));
        assert_eq!(names.len(), 1);
    }

    #[test]
    fn memory_is_bounded_and_the_oldest_goes_first() {
        let mut names = Bounded::default();
        let long = "é".repeat(1000);
        for id in 0..(CAPACITY as u64 + 10) {
            names.learn(id, &long);
        }
        assert_eq!(names.len(), CAPACITY);
        assert!(!names.contains(0) && !names.contains(9));
        assert!(names.contains(10) && names.contains(CAPACITY as u64 + 9));
        let kept = names.get(10).unwrap();
        assert!(kept.len() <= MAX_NAME_BYTES && kept.chars().all(|c| c == 'é'));
        // A rename does not count as a new entry.
        names.learn(10, "Renamed");
        assert_eq!(names.len(), CAPACITY);
        assert_eq!(names.get(10), Some("Renamed"));
    }
}
