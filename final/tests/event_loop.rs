//! The checks stage 10 and stage 11 carried forward, against `backend`.
//! They are written once, in `tests/carried/event_loop.rs`.

const STAGE: &str = "backend";
include!("../../tests/carried/event_loop.rs");
