//! Stage 01 — the echo server's logic: accept connections one at a time and
//! copy every byte a peer sends straight back to it.
//!
//! `main.rs` binds the socket and calls [`serve`]; the tests bind port 0 and
//! call the very same function.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

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
/// conversation, not an error.
pub fn echo(mut stream: TcpStream) -> io::Result<()> {
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
