//! Stage 11 on the wire: what the event loop changes (thousands of idle
//! connections, backpressure, slow work on the pool), checked against this
//! stage's binary. The tests are written once, in
//! `tests/carried/event_loop.rs`, for stage 11 and `final/`. The mistake
//! this chapter is about is in `tests/one_read_per_event.rs`.

const STAGE: &str = "stage-11";
include!("../../../tests/carried/event_loop.rs");
