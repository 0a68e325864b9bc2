//! Deadlines, kept by the event loop.
//!
//! A thread that waits in `read` can leave the timing to the kernel (a read
//! timeout). An event loop never waits on one connection, so it needs its
//! own clock: every connection has at most one deadline (idle, the
//! whole request, the next write, the lingering close), and before each
//! `poll` the loop asks [`Timers::next`] how long it may sleep.
//!
//! The structure is an ordered set of `(when, connection)` pairs, a
//! `BTreeSet`: the earliest deadline is the first entry, and adding,
//! moving or removing one costs O(log n). With 10 000 connections that is
//! about 14 steps. Servers with millions of timers use a timer wheel
//! (buckets by tick, O(1) per change, coarser times); ours moves one
//! deadline per request, and the ordered set is the simplest correct thing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mio::Token;

// ANCHOR: timers
/// Each connection's deadline, ordered by time.
#[derive(Debug, Default)]
pub struct Timers {
    deadlines: BTreeSet<(Instant, Token)>,
}

impl Timers {
    /// Replaces `token`'s deadline `old` (if it had one) by `new` (if any).
    /// The connection keeps its current deadline, so finding the entry to
    /// remove needs no search.
    pub fn change(&mut self, token: Token, old: Option<Instant>, new: Option<Instant>) {
        if let Some(old) = old {
            self.deadlines.remove(&(old, token));
        }
        if let Some(new) = new {
            self.deadlines.insert((new, token));
        }
    }

    /// How long `poll` may sleep: until the earliest deadline (zero if it
    /// has passed), or for ever (`None`) if there is none.
    pub fn next(&self, now: Instant) -> Option<Duration> {
        self.deadlines
            .first()
            .map(|(when, _)| when.saturating_duration_since(now))
    }

    /// Removes and returns every connection whose deadline is `now` or
    /// earlier, the earliest first.
    pub fn expired(&mut self, now: Instant) -> Vec<Token> {
        let mut due = Vec::new();
        while let Some(&(when, token)) = self.deadlines.first() {
            if when > now {
                break;
            }
            self.deadlines.pop_first();
            due.push(token);
        }
        due
    }
}
// ANCHOR_END: timers

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_expire_in_order_and_only_once_due() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut timers = Timers::default();
        timers.change(Token(1), None, Some(at(30)));
        timers.change(Token(2), None, Some(at(10)));
        timers.change(Token(3), None, Some(at(20)));
        assert_eq!(timers.next(start), Some(Duration::from_millis(10)));
        assert_eq!(timers.expired(at(9)), vec![]);
        assert_eq!(timers.expired(at(20)), vec![Token(2), Token(3)]);
        assert_eq!(timers.next(at(25)), Some(Duration::from_millis(5)));
        assert_eq!(timers.next(at(40)), Some(Duration::ZERO));
        assert_eq!(timers.expired(at(40)), vec![Token(1)]);
        assert_eq!(timers.next(at(40)), None);
    }

    #[test]
    fn a_moved_deadline_replaces_the_old_one_and_a_removed_one_is_gone() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let mut timers = Timers::default();
        timers.change(Token(1), None, Some(at(10)));
        timers.change(Token(1), Some(at(10)), Some(at(50)));
        assert_eq!(timers.expired(at(20)), vec![]);
        timers.change(Token(2), None, Some(at(5)));
        timers.change(Token(2), Some(at(5)), None);
        assert_eq!(timers.expired(at(60)), vec![Token(1)]);
    }
}
