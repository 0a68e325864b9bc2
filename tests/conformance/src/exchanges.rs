//! Exchanges carried forward: plain request → response conversations that a
//! stage introduces (and snapshots in its own `tests/`), and that every later
//! stage must answer with the same bytes.
//!
//! This is how the suite avoids copying tests from stage to stage. Stage 03's
//! `tests/http.rs` pins what `GET /health` looks like on the wire; instead of
//! a copy of that test in stages 04, 05 and 06, the row below runs the
//! request against each later stage and against stage 03, and compares.
//! Where a later stage *means* to answer differently, the row says so in
//! `changed_in`, and from that stage on the comparison starts again.
//!
//! Each request is also written out in the test of the stage that introduces
//! it: there it is the lesson, here it is the check that the lesson still
//! holds. Every request ends with `Connection: close`, so the answer is the
//! same whether or not the stage keeps connections alive.

use std::net::SocketAddr;

use wire::StaticFixture;

use crate::Stage;

/// One exchange: a request, and the stage that introduced it.
pub struct Exchange {
    /// A short stable identifier: `get-health`.
    pub id: &'static str,
    /// The first stage that answers it as every later stage must.
    pub since: &'static str,
    /// Later stages that deliberately answer it differently (the comparison
    /// restarts from each of them).
    pub changed_in: &'static [&'static str],
    /// The bytes sent, in one write, on a fresh connection.
    pub request: &'static [u8],
}

macro_rules! close {
    ($head:literal) => {
        concat!($head, "Connection: close\r\n\r\n").as_bytes()
    };
    ($head:literal, $body:literal) => {
        concat!($head, "Connection: close\r\n\r\n", $body).as_bytes()
    };
}

// ANCHOR: exchanges
/// Every carried-forward exchange, by the stage that introduced it.
pub const EXCHANGES: &[Exchange] = &[
    // Stage 03: routing, methods, bodies, refusals.
    Exchange {
        id: "get-health",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET /health HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "get-api-status",
        since: "stage-03",
        // The product names itself "final", not a stage number: its
        // `/api/status` is three bytes longer.
        changed_in: &["backend"],
        request: close!("GET /api/status HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "head-api-status",
        since: "stage-03",
        // The product names itself "final", not a stage number: its
        // `/api/status` is three bytes longer.
        changed_in: &["backend"],
        request: close!("HEAD /api/status HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "wrong-method-on-a-known-path",
        since: "stage-03",
        changed_in: &[],
        request: close!("DELETE /health HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "unknown-method",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!("BREW /api/status HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "get-on-the-echo-route",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!("GET /api/echo HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "body-by-content-length",
        since: "stage-03",
        changed_in: &[],
        request: close!(
            "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 12\r\n",
            "hello, body!"
        ),
    },
    Exchange {
        id: "repeated-identical-content-lengths",
        since: "stage-03",
        changed_in: &[],
        request: close!(
            "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n",
            "ok"
        ),
    },
    Exchange {
        id: "post-without-content-length",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!("POST /api/echo HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "body-over-the-cap",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!("POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 65537\r\n"),
    },
    Exchange {
        id: "content-length-with-a-sign",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!("POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: +5\r\n"),
    },
    Exchange {
        id: "conflicting-content-lengths",
        since: "stage-03",
        changed_in: &["stage-07"],
        request: close!(
            "POST /api/echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
            "abc"
        ),
    },
    Exchange {
        id: "absolute-form-target",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET http://example.com/health HTTP/1.1\r\nHost: example.com\r\n"),
    },
    Exchange {
        id: "query-string",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET /health?verbose=1 HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "http-1-1-without-host",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET /health HTTP/1.1\r\n"),
    },
    Exchange {
        id: "two-hosts",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET /health HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n"),
    },
    Exchange {
        id: "options-asterisk",
        since: "stage-03",
        changed_in: &[],
        request: close!("OPTIONS * HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "asterisk-with-get",
        since: "stage-03",
        changed_in: &[],
        request: close!("GET * HTTP/1.1\r\nHost: localhost\r\n"),
    },
    // Stage 04: files from the static root.
    Exchange {
        id: "unknown-path",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET /nope HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "root-serves-index-html",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET / HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "css-file",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET /static/app.css HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "head-of-a-file",
        since: "stage-04",
        changed_in: &[],
        request: close!("HEAD /static/app.css HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "directory-without-slash",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET /docs HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "refused-traversal",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET /%2e%2e/secret.txt HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "dotfile",
        since: "stage-04",
        changed_in: &[],
        request: close!("GET /.env HTTP/1.1\r\nHost: localhost\r\n"),
    },
    Exchange {
        id: "post-to-a-static-path",
        since: "stage-04",
        changed_in: &[],
        request: close!("POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"),
    },
    // Stage 05: keep-alive and pipelining.
    Exchange {
        id: "three-pipelined-requests",
        since: "stage-05",
        // The product names itself "final", not a stage number: its
        // `/api/status` is three bytes longer.
        changed_in: &["backend"],
        request: b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   GET /api/status HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   HEAD /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    },
    Exchange {
        id: "a-file-then-more-on-one-connection",
        since: "stage-05",
        changed_in: &[],
        request: b"GET /static/app.css HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    },
    Exchange {
        id: "http-1-0-keep-alive",
        since: "stage-05",
        changed_in: &[],
        request: b"GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n\
                   GET /health HTTP/1.0\r\n\r\n",
    },
    Exchange {
        id: "a-bad-request-ends-the-connection",
        since: "stage-05",
        changed_in: &[],
        request: b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   HELLO\r\n\r\n\
                   GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n",
    },
    // Stage 07: the user API. Several requests on one connection, so that
    // one fresh server answers them in order.
    Exchange {
        id: "sign-up-and-read-back",
        since: "stage-07",
        // From stage 09, reading a user needs a token.
        changed_in: &["stage-09"],
        request: b"POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 47\r\n\r\n{\"username\":\"Alice\",\"password\":\"correct horse\"}\
                   GET /api/users/1 HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   GET /api/users/2 HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   GET /api/users/abc HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    },
    Exchange {
        id: "refused-sign-ups",
        since: "stage-07",
        changed_in: &[],
        request: b"POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\n\
                   Content-Length: 2\r\n\r\n{}\
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 13\r\n\r\n{\"username\": \
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 2\r\n\r\n[]\
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 40\r\n\r\n{\"username\":\"alice\",\"password\":12345678}\
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 20\r\n\r\n{\"username\":\"alice\"}\
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 43\r\n\r\n{\"username\":\"al ice\",\"password\":\"12345678\"}\
                   POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 41\r\n\r\n{\"username\":\"alice\",\"password\":\"1234567\"}\
                   GET /api/nothing-here HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   DELETE /api/users/1 HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   DELETE /api/users HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    },
    // Stage 09: logins and tokens (what does not depend on the time; a
    // token does, so logging in successfully is a case, `login-then-me`).
    Exchange {
        id: "refused-logins-and-tokens",
        since: "stage-09",
        changed_in: &[],
        request: b"POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 47\r\n\r\n{\"username\":\"alice\",\"password\":\"correct horse\"}\
                   POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 45\r\n\r\n{\"username\":\"alice\",\"password\":\"wrong horse\"}\
                   POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 49\r\n\r\n{\"username\":\"mallory\",\"password\":\"correct horse\"}\
                   POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                   Content-Length: 20\r\n\r\n{\"username\":\"alice\"}\
                   GET /api/me HTTP/1.1\r\nHost: localhost\r\n\r\n\
                   GET /api/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic YWxpY2U6eA==\r\n\r\n\
                   GET /api/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer garbage\r\n\r\n\
                   GET /api/users/1 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer a.b.c\r\n\
                   Connection: close\r\n\r\n",
    },
];
// ANCHOR_END: exchanges

impl Exchange {
    /// The stage whose answer `stage` must repeat: the newest of `since`
    /// and `changed_in` that is not newer than `stage`. `None` if `stage`
    /// predates the exchange, or *is* that stage (nothing to compare).
    pub fn reference_for(&self, stage: &str) -> Option<&'static str> {
        let reference = std::iter::once(self.since)
            .chain(self.changed_in.iter().copied())
            .filter(|candidate| crate::order_key(candidate) <= crate::order_key(stage))
            .max_by_key(|candidate| crate::order_key(candidate))?;
        (reference != stage).then_some(reference)
    }

    /// What `stage` answers, as `wire::show` shows it, with the stage's
    /// own number (in `/api/status`) and times blanked so stages can be
    /// compared.
    pub fn answer_of(&self, stage: &Stage) -> String {
        let fixture = StaticFixture::create();
        let server = stage.start(&fixture.root());
        self.answer_at(server.addr(), &stage.name)
    }

    fn answer_at(&self, addr: SocketAddr, stage_name: &str) -> String {
        let reply = wire::exchange(addr, self.request);
        let number = crate::status_label(stage_name);
        let shown = reply
            .show()
            .replace(&format!("\"stage\":\"{number}\""), "\"stage\":\"NN\"");
        // `created_at` (from stage 07) is a time: blanked, like `Date`.
        xtask::transcript::comparable(&shown)
    }
}

/// Checks that `stage` answers `exchange` exactly as its reference stage
/// does (both run now, side by side).
pub fn check(exchange: &Exchange, stage: &Stage, stages: &[Stage]) -> Result<(), String> {
    let Some(reference) = exchange.reference_for(&stage.name) else {
        return Ok(());
    };
    let reference = stages
        .iter()
        .find(|candidate| candidate.name == reference)
        .ok_or_else(|| format!("no stage called {reference}"))?;
    let expected = exchange.answer_of(reference);
    let actual = exchange.answer_of(stage);
    if actual == expected {
        return Ok(());
    }
    Err(format!(
        "answers differently from {} (if that is intended, add {} to `changed_in`):\n\
         {}:\n{expected}\n{}:\n{actual}",
        reference.name, stage.name, reference.name, stage.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_is_the_newest_change_at_or_before_the_stage() {
        let exchange = Exchange {
            id: "x",
            since: "stage-03",
            changed_in: &["stage-05"],
            request: b"",
        };
        assert_eq!(exchange.reference_for("stage-02"), None);
        assert_eq!(exchange.reference_for("stage-03"), None);
        assert_eq!(exchange.reference_for("stage-04"), Some("stage-03"));
        assert_eq!(exchange.reference_for("stage-05"), None);
        assert_eq!(exchange.reference_for("stage-06"), Some("stage-05"));
    }

    #[test]
    fn exchange_ids_are_unique() {
        let ids = EXCHANGES.iter().map(|exchange| exchange.id);
        assert_eq!(crate::repeated_ids(ids), Vec::<&str>::new());
    }

    #[test]
    fn a_repeated_id_is_reported_once() {
        let ids = ["a", "b", "a", "a", "c"].into_iter();
        assert_eq!(crate::repeated_ids(ids), ["a"]);
    }
}
