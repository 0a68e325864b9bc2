//! Stage 01 — the echo server's logic: accept connections one at a time and
//! copy every byte a peer sends straight back to it.
//!
//! `main.rs` binds the socket and calls [`serve`]; the tests bind port 0 and
//! call the very same function.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpListener;

/// How many bytes we read from the socket at a time. Any size works: TCP is a
/// stream of bytes, not of messages, so a read returns whatever has arrived,
/// from one byte up to the size of the buffer.
pub const READ_CHUNK_BYTES: usize = 4096;

// ANCHOR: serve
/// Accepts connections forever, one at a time, and echoes each one.
///
/// An error on one connection (the peer vanished, say) is printed and
/// forgotten: it must never stop the server for everybody else.
pub fn serve(listener: TcpListener) -> io::Result<()> {
    for connection in listener.incoming() {
        match connection {
            Ok(stream) => {
                if let Err(error) = echo(stream) {
                    eprintln!("connection ended with an error: {error}");
                }
            }
            // Accepting can fail for reasons that concern one connection only
            // (it was reset before we got to it) or the whole process (out of
            // file descriptors). We log and carry on; stage 06 adds limits.
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
    Ok(())
}
// ANCHOR_END: serve

// ANCHOR: echo
/// Copies bytes from the peer back to the peer until it hangs up.
///
/// `read` returning `Ok(0)` is how the operating system says "the peer closed
/// its side": there will never be more bytes. That is the normal end of a
/// conversation, not an error. (`stream` is a `TcpStream` in the server;
/// anything that reads and writes bytes will do, which is how the unit tests
/// below stand in for a peer.)
pub fn echo(mut stream: impl Read + Write) -> io::Result<()> {
    let mut buffer = [0u8; READ_CHUNK_BYTES];
    loop {
        let received = match stream.read(&mut buffer) {
            Ok(0) => return Ok(()),
            Ok(received) => received,
            // A signal arrived while we were waiting: just wait again.
            Err(error) if error.kind() == ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        // `write` may send only part of the buffer; `write_all` loops until
        // every byte is handed to the kernel.
        stream.write_all(&buffer[..received])?;
    }
}
// ANCHOR_END: echo

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that hands out `incoming` one byte per read, with every other
    /// read interrupted by a signal (`Interrupted`, signal(7)), then fails
    /// with `then_fail_with` or ends; it keeps what we write back.
    struct Peer<'a> {
        incoming: &'a [u8],
        interrupt_next: bool,
        then_fail_with: Option<ErrorKind>,
        written: Vec<u8>,
    }

    impl<'a> Peer<'a> {
        fn new(incoming: &'a [u8]) -> Self {
            Peer {
                incoming,
                interrupt_next: true,
                then_fail_with: None,
                written: Vec::new(),
            }
        }
    }

    impl Read for Peer<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.interrupt_next {
                self.interrupt_next = false;
                return Err(ErrorKind::Interrupted.into());
            }
            self.interrupt_next = true;
            if self.incoming.is_empty() {
                if let Some(kind) = self.then_fail_with {
                    return Err(kind.into());
                }
            }
            let one = out.len().min(1);
            self.incoming.read(&mut out[..one])
        }
    }

    impl Write for Peer<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.written.write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_read_interrupted_by_a_signal_is_tried_again() {
        let mut peer = Peer::new(b"hello");
        echo(&mut peer).expect("an interrupted read is no error");
        assert_eq!(peer.written, b"hello");
    }

    #[test]
    fn any_other_read_error_ends_the_conversation_with_that_error() {
        let mut peer = Peer::new(b"hi");
        peer.then_fail_with = Some(ErrorKind::ConnectionReset);
        let error = echo(&mut peer).expect_err("a reset is an error");
        assert_eq!(error.kind(), ErrorKind::ConnectionReset);
        assert_eq!(peer.written, b"hi");
    }
}
