//! Stage 11 on the wire: a client that sends `Expect: 100-continue` waits
//! for permission before it sends the body (curl does, for a second, for
//! bodies over 1 KiB). The loop gives it at once, then answers as usual.
//! Stages 02 to 10 made it wait (the conformance case
//! `expect-100-continue`).

use std::io::Read;

use wire::StageProcess;

#[test]
fn expect_100_continue_gets_its_interim_answer_before_the_body() {
    let server = StageProcess::start("stage-11", &[]);
    let mut stream = wire::connect(server.addr());
    wire::send(
        &mut stream,
        b"POST /api/echo HTTP/1.1\r\nHost: localhost\r\n\
          Content-Type: application/octet-stream\r\nContent-Length: 5\r\n\
          Expect: 100-continue\r\nConnection: close\r\n\r\n",
    );
    // The interim answer is a head alone, and the body has not been sent:
    // it comes now, or the read times out (`wire::connect`'s 5 s).
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while wire::find(&interim, b"\r\n\r\n").is_none() {
        let read = stream.read(&mut byte).expect("the interim answer, at once");
        assert_eq!(read, 1, "closed after {}", wire::show(&interim));
        interim.push(byte[0]);
    }
    wire::send(&mut stream, b"hello");
    let reply = wire::read_reply(&mut stream);
    insta::assert_snapshot!(format!("{}{}", wire::show(&interim), reply.show()));
}
