//! Stage 11 on the wire: the production habits stage 10 brought (the
//! configuration check, the access log, the metrics page, readiness, and a
//! shutdown that loses no acknowledged sign-up), checked against this
//! stage's binary. The tests are written once, in
//! `tests/carried/production.rs`, for every stage that has these habits.

const STAGE: &str = "stage-11";
include!("../../../tests/carried/production.rs");
