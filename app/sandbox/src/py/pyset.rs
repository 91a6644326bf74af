//! CPython's `set` of small integers, simulated: the order a set iterates in is the order of
//! its hash table's slots, which decides the order Django writes `IN (…)` lists built from a
//! set (a forward-FK prefetch, many-to-many `add`). Follows `Objects/setobject.c` (3.11):
//! linear probes of 9, perturbed rehashing, growth to 4× the used count.

const LINEAR_PROBES: usize = 9;
const PERTURB_SHIFT: u32 = 5;
const MINSIZE: usize = 8;

/// A set of ints with CPython's slot layout.
#[derive(Clone, Debug)]
pub struct IntSet {
    table: Vec<Option<i64>>,
    used: usize,
    fill: usize,
}

fn py_hash(i: i64) -> u64 {
    // CPython: hash(i) == i for small ints, except -1 hashes to -2.
    let h = if i == -1 { -2 } else { i };
    h as u64
}

impl Default for IntSet {
    fn default() -> Self {
        IntSet { table: vec![None; MINSIZE], used: 0, fill: 0 }
    }
}

impl IntSet {
    pub fn new() -> IntSet {
        IntSet::default()
    }

    pub fn from_iter(items: impl IntoIterator<Item = i64>) -> IntSet {
        let mut s = IntSet::new();
        for i in items {
            s.add(i);
        }
        s
    }

    fn mask(&self) -> usize {
        self.table.len() - 1
    }

    pub fn contains(&self, key: i64) -> bool {
        self.table.iter().any(|e| *e == Some(key))
    }

    pub fn add(&mut self, key: i64) {
        let hash = py_hash(key);
        let mask = self.mask();
        let mut i = (hash as usize) & mask;
        let mut perturb = hash;
        loop {
            let probes = if i + LINEAR_PROBES <= mask { LINEAR_PROBES } else { 0 };
            for j in 0..=probes {
                match self.table[i + j] {
                    None => {
                        self.table[i + j] = Some(key);
                        self.fill += 1;
                        self.used += 1;
                        if self.fill * 5 >= mask * 3 {
                            let min = if self.used > 50_000 { self.used * 2 } else { self.used * 4 };
                            self.resize(min);
                        }
                        return;
                    }
                    Some(k) if k == key => return,
                    Some(_) => {}
                }
            }
            perturb >>= PERTURB_SHIFT;
            i = (i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb as usize)) & mask;
        }
    }

    fn resize(&mut self, minused: usize) {
        let mut newsize = MINSIZE;
        while newsize <= minused {
            newsize <<= 1;
        }
        let old = std::mem::replace(&mut self.table, vec![None; newsize]);
        let mask = newsize - 1;
        for key in old.into_iter().flatten() {
            let hash = py_hash(key);
            let mut i = (hash as usize) & mask;
            let mut perturb = hash;
            'probe: loop {
                if self.table[i].is_none() {
                    self.table[i] = Some(key);
                    break 'probe;
                }
                if i + LINEAR_PROBES <= mask {
                    for j in 1..=LINEAR_PROBES {
                        if self.table[i + j].is_none() {
                            self.table[i + j] = Some(key);
                            break 'probe;
                        }
                    }
                }
                perturb >>= PERTURB_SHIFT;
                i = (i.wrapping_mul(5).wrapping_add(1).wrapping_add(perturb as usize)) & mask;
            }
        }
        self.fill = self.used;
    }

    /// Iteration order.
    pub fn items(&self) -> Vec<i64> {
        self.table.iter().flatten().copied().collect()
    }

    /// `self.difference(other)`: a new set of the items not in `other`, in this set's order.
    pub fn difference(&self, other: &[i64]) -> IntSet {
        IntSet::from_iter(self.items().into_iter().filter(|i| !other.contains(i)))
    }

    pub fn len(&self) -> usize {
        self.used
    }

    pub fn is_empty(&self) -> bool {
        self.used == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ints_iterate_like_cpython() {
        // Checked against CPython 3.11: list({44, 37, 30, 16, 9, 2, 38, 31, 24, 10}).
        let s = IntSet::from_iter([44, 37, 30, 16, 9, 2, 38, 31, 24, 10]);
        assert_eq!(s.items(), vec![2, 37, 38, 9, 10, 44, 16, 24, 30, 31]);
        assert_eq!(IntSet::from_iter([3, 1, 2]).items(), vec![1, 2, 3]);
    }
}
