//! Policy × allocation pairs and their policies, coded in the order rows first name
//! them, and ranked in name order for the output's sort.

use super::order::ranks_of;
use super::{map, Map, SMALL};

/// Policy × allocation pairs (`pa`), the policies (`pcode`), and the pairs' and
/// policies' ranks in name order, for the output's sort.
pub(super) struct Pairs<'a> {
    pub(super) pairs: Map<(&'a str, &'a str), u32>,
    pub(super) keys: Vec<(&'a str, &'a str)>,
    pub(super) policy_codes: Map<&'a str, u32>,
    pub(super) policies: Vec<&'a str>,
    pub(super) policy_of: Vec<u32>,
}

impl<'a> Pairs<'a> {
    pub(super) fn new() -> Self {
        Self {
            pairs: map(16),
            keys: Vec::new(),
            policy_codes: map(4),
            policies: Vec::new(),
            policy_of: Vec::new(),
        }
    }

    pub(super) fn code(&mut self, policy: &'a str, allocation: &'a str) -> u32 {
        // A bundle has a few pairs: comparing them beats hashing two strings per row.
        if self.keys.len() <= SMALL {
            if let Some(c) = self
                .keys
                .iter()
                .position(|&(p, a)| a == allocation && p == policy)
            {
                return c as u32;
            }
        } else if let Some(&c) = self.pairs.get(&(policy, allocation)) {
            return c;
        }
        let c = self.keys.len() as u32;
        self.pairs.insert((policy, allocation), c);
        self.keys.push((policy, allocation));
        let next = self.policies.len() as u32;
        let p = *self.policy_codes.entry(policy).or_insert(next);
        if p == next {
            self.policies.push(policy);
        }
        self.policy_of.push(p);
        c
    }

    /// Rank of each pair in (policy, allocation) order.
    pub(super) fn ranks(&self) -> Vec<u32> {
        ranks_of(&self.keys)
    }
}
