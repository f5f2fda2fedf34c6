//! Spacing and resending the commands the platform starts, where a protocol
//! asks for it.
//!
//! The AP3000 guide (V8.6 §1.0.3) says a server must leave at least 0.5 s
//! between two commands to one device, and send a command that got no
//! answer within 15 s once more, with the same message id (the device
//! answers with the id it was sent). Replies to the pile's own frames are
//! not commands and go out at once. The link asks its adapter which frames
//! await an answer (`Adapter::awaits_answer`) and which inbound items answer
//! one (`Adapter::answers`); this queue decides when each goes out. YKC has
//! no such rule, so its frames never come here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Commands waiting their turn, and those sent but not yet answered.
pub struct Pacer<F> {
    gap: Duration,
    queue: VecDeque<Queued<F>>,
    unanswered: Vec<u32>,
    /// When the last command went out.
    last: Option<Instant>,
    /// The next command waits until the last is answered or given up.
    one_in_flight: bool,
}

pub struct Queued<F> {
    pub key: u32,
    pub frame: F,
    /// The one resend of an unanswered command.
    pub resend: bool,
}

impl<F> Pacer<F> {
    pub fn new(gap: Duration) -> Self {
        Pacer { gap, queue: VecDeque::new(), unanswered: Vec::new(), last: None, one_in_flight: false }
    }

    /// A queue that lets one command out at a time, each only once the one
    /// before it was answered or given up (`take_unanswered`): OCPP-J's rule.
    pub fn one_in_flight() -> Self {
        Pacer { one_in_flight: true, ..Pacer::new(Duration::ZERO) }
    }

    pub fn push(&mut self, key: u32, frame: F, resend: bool) {
        self.queue.push_back(Queued { key, frame, resend });
    }

    /// The next command, if its turn has come; otherwise how long until it
    /// does (`Err(None)`: nothing waits).
    pub fn next(&mut self, now: Instant) -> Result<Queued<F>, Option<Duration>> {
        if self.queue.is_empty() || (self.one_in_flight && !self.unanswered.is_empty()) {
            return Err(None);
        }
        let wait = self.last.map_or(Duration::ZERO, |t| (t + self.gap).saturating_duration_since(now));
        if !wait.is_zero() {
            return Err(Some(wait));
        }
        let q = self.queue.pop_front().expect("not empty");
        self.last = Some(now);
        if !q.resend {
            self.unanswered.push(q.key);
        }
        Ok(q)
    }

    /// An answer came for the command with this key.
    pub fn answered(&mut self, key: u32) {
        self.unanswered.retain(|k| *k != key);
    }

    /// Whether the command with this key is still unanswered; it stops
    /// being tracked either way (it is resent once, at most).
    pub fn take_unanswered(&mut self, key: u32) -> bool {
        let before = self.unanswered.len();
        self.unanswered.retain(|k| *k != key);
        self.unanswered.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_go_out_a_gap_apart_in_order() {
        let gap = Duration::from_millis(500);
        let mut p = Pacer::new(gap);
        let t0 = Instant::now();
        assert!(matches!(p.next(t0), Err(None)), "nothing queued");
        p.push(1, "a", false);
        p.push(2, "b", false);
        assert_eq!(p.next(t0).ok().map(|q| q.frame), Some("a"));
        assert_eq!(p.next(t0 + Duration::from_millis(200)).err(), Some(Some(Duration::from_millis(300))));
        assert_eq!(p.next(t0 + gap).ok().map(|q| q.frame), Some("b"));
        assert!(matches!(p.next(t0 + gap * 3), Err(None)));
    }

    #[test]
    fn one_in_flight_holds_the_next_until_the_last_is_answered_or_given_up() {
        let mut p = Pacer::one_in_flight();
        let t0 = Instant::now();
        for key in [1, 2, 3] {
            p.push(key, key, false);
        }
        assert_eq!(p.next(t0).ok().map(|q| q.frame), Some(1));
        assert!(matches!(p.next(t0), Err(None)), "1 is in flight");
        p.answered(1);
        assert_eq!(p.next(t0).ok().map(|q| q.frame), Some(2));
        assert!(matches!(p.next(t0), Err(None)), "2 is in flight");
        assert!(p.take_unanswered(2), "2 timed out");
        assert_eq!(p.next(t0).ok().map(|q| q.frame), Some(3));
    }

    #[test]
    fn an_answered_command_is_not_resent_and_a_resend_is_not_tracked() {
        let mut p = Pacer::new(Duration::ZERO);
        let t0 = Instant::now();
        p.push(7, (), false);
        p.push(8, (), false);
        p.next(t0).ok().unwrap();
        p.next(t0).ok().unwrap();
        p.answered(7);
        assert!(!p.take_unanswered(7), "answered");
        assert!(p.take_unanswered(8), "unanswered: resend it");
        p.push(8, (), true);
        p.next(t0).ok().unwrap();
        assert!(!p.take_unanswered(8), "a resend is the last try");
    }
}
