//! [`Passwords`]: hashing passwords with argon2id, a few at a time.
//!
//! We never store a password, only a slow, salted hash of it: if the user
//! table leaks, each guess an attacker makes costs them as much as one
//! sign-up costs us. That cost is the point, and also the danger: every hash
//! in flight holds [`MEMORY_KIB`] of RAM and a core for about ten
//! milliseconds, so a burst of sign-ups or logins could
//! take all our memory and all our workers. [`Passwords`] therefore lets at
//! most a few hashes run at once, lets a few more wait, and turns the rest
//! away ([`Busy`], a `503`) instead of queueing without end.
//!
//! [`Passwords::verify`], for logins, takes a turn like a hash, and checks
//! an unknown username against a dummy hash, so that a wrong password and
//! an unknown user take the same time.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

// ANCHOR: parameters
/// Memory per hash: 7 MiB (`m`). Argon2 fills this much RAM with
/// pseudo-random blocks and reads them back in an order that depends on the
/// password, so an attacker's GPU or ASIC needs the same 7 MiB per guess.
/// The crate's default is 19 MiB; OWASP lists 7 MiB with 5 passes as an
/// equally strong setting that costs less memory and more time.
pub const MEMORY_KIB: u32 = 7 * 1024;
/// Passes over that memory (`t`): more passes, more time per hash.
pub const ITERATIONS: u32 = 5;
/// Lanes computed in parallel (`p`). One: our parallelism comes from
/// serving several requests at once, not from one hash taking two cores.
pub const LANES: u32 = 1;

/// Our argon2id hasher: Argon2id (the variant that resists both GPU guessing
/// and side-channel attacks), version 0x13, and the parameters above.
fn argon2id() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .expect("the constant parameters are within argon2's limits");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}
// ANCHOR_END: parameters

// ANCHOR: hash_error
/// Too many hashes are running and waiting already: try again later (`503`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashError {
    /// The cap is full: answer `503` with `Retry-After`.
    Busy,
    /// argon2 failed, which means the OS gave us no random bytes for the
    /// salt: our fault, a `500`.
    Failed(String),
}
// ANCHOR_END: hash_error

// ANCHOR: passwords
/// Hashes passwords, at most `max_running` at a time, with at most
/// `max_waiting` more waiting for a turn.
pub struct Passwords {
    argon2: Argon2<'static>,
    max_running: usize,
    max_waiting: usize,
    slots: Mutex<Slots>,
    /// Signalled each time a running hash finishes.
    slot_freed: Condvar,
    /// The hash of a password nobody has, with our parameters: what a login
    /// for an unknown username is checked against (see [`Passwords::verify`]).
    dummy_hash: &'static str,
}

/// What the dummy hash is made of (only the test needs them). Neither is a
/// secret: nobody logs in with the dummy, whatever its password (see
/// [`Passwords::verify`]).
#[cfg(test)]
const DUMMY_PASSWORD: &[u8] = b"nobody has this password";
#[cfg(test)]
const DUMMY_SALT: &[u8] = b"a constant salt";
/// [`DUMMY_PASSWORD`] hashed with [`DUMMY_SALT`] and our parameters, written
/// out once rather than computed at every start: one hash is about 15 ms
/// of CPU, most of the time `backend` takes to start. The test
/// `the_dummy_hash_is_what_our_parameters_make_of_its_inputs` recomputes it.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=7168,t=5,p=1$YSBjb25zdGFudCBzYWx0$TQAKpGSrcJpfTiAVZIG9cfL5jZhosdw0NSgMiFA1zSA";

/// How many hashes are running, and how many are waiting to.
#[derive(Debug, Default)]
struct Slots {
    running: usize,
    waiting: usize,
}

impl Passwords {
    pub fn new(max_running: usize, max_waiting: usize) -> Passwords {
        assert!(max_running > 0, "at least one hash must be able to run");
        Passwords {
            argon2: argon2id(),
            max_running,
            max_waiting,
            slots: Mutex::new(Slots::default()),
            slot_freed: Condvar::new(),
            dummy_hash: DUMMY_HASH,
        }
    }

    /// Hashes `password` with a fresh random salt, into a PHC string such as
    /// `$argon2id$v=19$m=7168,t=5,p=1$<salt>$<hash>`: the string records the
    /// algorithm, the parameters and the salt, so that a hash made today can
    /// still be checked after we change the parameters.
    ///
    /// Waits for a turn if the cap is full, or returns [`HashError::Busy`]
    /// at once if the waiting room is full too.
    pub fn hash(&self, password: &str) -> Result<String, HashError> {
        let _turn = self.take_turn().map_err(|Busy| HashError::Busy)?;
        self.argon2
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|error| HashError::Failed(error.to_string()))
    }

    // ANCHOR: verify
    /// Is `password` the one `phc` was made from? `false` for a malformed
    /// `phc`. With `phc` of `None` (the username is unknown), checks the
    /// password against a dummy hash and says `false`: an unknown user
    /// costs exactly as much time as a wrong password, so the time an
    /// answer takes does not tell an attacker which usernames exist.
    ///
    /// A check costs what a hash costs, so it takes a turn like one.
    pub fn verify(&self, password: &str, phc: Option<&str>) -> Result<bool, Busy> {
        let _turn = self.take_turn()?;
        let matches = self
            .argon2
            .verify_password(password.as_bytes(), phc.unwrap_or(self.dummy_hash))
            .is_ok();
        Ok(matches && phc.is_some())
    }
    // ANCHOR_END: verify

    /// How many hashes are running right now.
    pub fn running(&self) -> usize {
        self.lock().running
    }

    /// Waits until fewer than `max_running` hashes run, unless
    /// `max_waiting` others are waiting already.
    fn take_turn(&self) -> Result<Turn<'_>, Busy> {
        let mut slots = self.lock();
        if slots.running >= self.max_running {
            if slots.waiting >= self.max_waiting {
                return Err(Busy);
            }
            slots.waiting += 1;
            slots = self
                .slot_freed
                .wait_while(slots, |slots| slots.running >= self.max_running)
                .unwrap_or_else(PoisonError::into_inner);
            slots.waiting -= 1;
        }
        slots.running += 1;
        Ok(Turn { passwords: self })
    }

    /// The counters. Nothing panics while holding this lock, so a poisoned
    /// lock still holds correct counts.
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One running hash. Dropping it (when the hash is done, or if it panics)
/// frees the slot and wakes one waiter.
struct Turn<'a> {
    passwords: &'a Passwords,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.passwords.lock().running -= 1;
        self.passwords.slot_freed.notify_one();
    }
}
// ANCHOR_END: passwords

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_hash_is_a_phc_string_with_our_parameters_and_verifies() {
        let passwords = Passwords::new(1, 0);
        let hash = passwords.hash("correct horse").expect("hashed");
        assert!(hash.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert_eq!(passwords.verify("correct horse", Some(&hash)), Ok(true));
        assert_eq!(passwords.verify("correct horsE", Some(&hash)), Ok(false));
        assert_eq!(
            passwords.verify("correct horse", Some("not a phc string")),
            Ok(false)
        );
    }

    #[test]
    fn the_dummy_hash_is_what_our_parameters_make_of_its_inputs() {
        // If the parameters change, this fails: write the new string into
        // `DUMMY_HASH`, or unknown users would cost less than wrong
        // passwords, and the time of a 401 would say which names exist.
        let made = argon2id()
            .hash_password_with_salt(DUMMY_PASSWORD, DUMMY_SALT)
            .expect("constant inputs within argon2's limits always hash")
            .to_string();
        assert_eq!(made, DUMMY_HASH);
    }

    #[test]
    fn an_unknown_user_is_checked_against_a_dummy_hash_with_our_parameters() {
        let passwords = Passwords::new(1, 0);
        assert!(passwords
            .dummy_hash
            .starts_with("$argon2id$v=19$m=7168,t=5,p=1$"));
        // Even the dummy's own password does not log in as nobody.
        let dummy_password = std::str::from_utf8(DUMMY_PASSWORD).expect("ASCII");
        assert_eq!(passwords.verify(dummy_password, None), Ok(false));
        // And a check waits for its turn like a hash.
        let _running = passwords.take_turn().expect("the first runs");
        assert_eq!(passwords.verify("x", None), Err(Busy));
    }

    #[test]
    fn the_same_password_hashes_differently_each_time() {
        // A fresh random salt per hash: two users with the same password
        // do not get the same hash, and one table of precomputed guesses
        // cannot serve for every user.
        let passwords = Passwords::new(1, 0);
        let first = passwords.hash("same password").expect("hashed");
        let second = passwords.hash("same password").expect("hashed");
        assert_ne!(first, second);
    }

    #[test]
    fn beyond_the_running_and_waiting_caps_a_hash_is_refused() {
        let passwords = Passwords::new(1, 1);
        let running = passwords.take_turn().expect("the first runs");
        // The second waits, on its own thread, for the first to finish.
        let (done, finished) = mpsc::channel();
        thread::scope(|scope| {
            scope.spawn(|| {
                let turn = passwords.take_turn();
                done.send(turn.is_ok()).expect("the test is listening");
            });
            // Wait until it really is waiting.
            while passwords.lock().waiting == 0 {
                thread::sleep(Duration::from_millis(1));
            }
            // The third finds one running, one waiting: busy, at once.
            assert_eq!(passwords.take_turn().err(), Some(Busy));
            assert!(finished.try_recv().is_err(), "the second still waits");
            drop(running);
            assert_eq!(finished.recv(), Ok(true), "the second got its turn");
        });
        // Every turn was given back.
        assert_eq!(passwords.running(), 0);
        assert_eq!(passwords.lock().waiting, 0);
    }

    #[test]
    fn with_no_waiting_room_a_second_hash_is_refused_at_once() {
        let passwords = Passwords::new(1, 0);
        let _running = passwords.take_turn().expect("the first runs");
        assert_eq!(passwords.take_turn().err(), Some(Busy));
        assert_eq!(passwords.running(), 1);
    }
}
