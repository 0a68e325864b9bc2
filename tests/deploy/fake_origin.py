#!/usr/bin/env python3
"""Origins that misbehave, for tests/deploy/edge.sh: each one fails the way
one of Cloudflare's 52x codes describes, so the edge simulator
(deploy/lab/edge.py) can be seen to answer with the right one.

  fake_origin.py BEHAVIOUR [--cert FILE --key FILE] [--seconds N]

It listens on 127.0.0.1, on a free port, prints `listening on 127.0.0.1:PORT`
on stdout, and serves (a thread per connection) until it is killed or
--seconds have passed. With --cert and --key it speaks TLS first.

  http     a small web server: / answers 200 with the request head it got,
           /missing 404, /bad-gateway nginx's 502 page, /echo the POSTed body,
           /chunked a chunked 200, /huge 9 MiB of body, /together a 200 once
           four visitors are waiting for it at once
  empty    reads the request, then closes without a byte (520)
  garbage  reads the request, then answers with something that is not HTTP (520)
  reset    reads the request, then resets the connection, an RST (520)
  silent   reads the request, then never answers (524)
  hangup   closes the connection as soon as the TLS ClientHello arrives (525)
"""

import argparse
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time

NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
             b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")


def response(status, body, content_type="text/plain"):
    return (f"HTTP/1.1 {status}\r\nServer: nginx\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


def read_request(sock):
    """The request head and body (Content-Length only), at most 2 MiB."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = sock.recv(65536)
        if not chunk:
            return data, b""
        data += chunk
        if not data[:1].isalpha():
            return data, b""  # a TLS ClientHello, say: not a request at all
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = min(int(value), 2 * 1024 * 1024)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head, body


def serve_http(sock, head, body):
    if not head[:1].isalpha():
        # What nginx does with bytes that are not HTTP: a 400, at once.
        sock.sendall(response("400 Bad Request", b"not HTTP\n"))
        return
    target = head.split(b" ")[1]
    if target == b"/":
        sock.sendall(response("200 OK", b"hello from the origin\n" + head + b"\n"))
    elif target == b"/missing":
        sock.sendall(response("404 Not Found", b"no such page\n"))
    elif target == b"/bad-gateway":
        sock.sendall(response("502 Bad Gateway", NGINX_502, "text/html"))
    elif target == b"/echo":
        sock.sendall(response("200 OK", body, "application/octet-stream"))
    elif target == b"/chunked":
        sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                     b"6\r\nchunky\r\n7\r\n bacon\n\r\n0\r\n\r\n")
    elif target == b"/huge":  # 9 MiB, until the end: more than the edge keeps
        try:
            sock.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            for _ in range(9 * 16):
                sock.sendall(b"x" * 65536)
        except OSError:
            pass  # the edge hung up once it had enough
    elif target == b"/together":
        # Answers only once four visitors are here at the same time: an edge
        # that serves one visitor at a time never gets them all here, and
        # each gets "alone" after the barrier's 10 s.
        try:
            TOGETHER.wait(timeout=10)
            sock.sendall(response("200 OK", b"together\n"))
        except threading.BrokenBarrierError:
            sock.sendall(response("503 Service Unavailable", b"alone\n"))
    else:
        sock.sendall(response("404 Not Found", b"no such page\n"))


TOGETHER = threading.Barrier(4)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        behaviour, tls = self.server.behaviour, self.server.tls
        sock = self.request
        sock.settimeout(30)
        if behaviour == "hangup":
            sock.recv(100)  # the start of the ClientHello, then nothing more
            return
        if tls:
            sock = tls.wrap_socket(sock, server_side=True)
        with sock:
            head, body = read_request(sock)
            if behaviour == "http":
                serve_http(sock, head, body)
            elif behaviour == "garbage":
                sock.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\nProtocol mismatch.\r\n")
            elif behaviour == "reset":
                # SO_LINGER with a zero timeout: close() sends an RST, not a FIN.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif behaviour == "silent":
                time.sleep(60)
            # "empty": nothing at all; the connection closes (a FIN) right here.


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("behaviour",
                        choices=("http", "empty", "garbage", "reset", "silent", "hangup"))
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    socketserver.ThreadingTCPServer.daemon_threads = True
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.behaviour, server.tls = args.behaviour, None
    if args.cert:
        server.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.tls.load_cert_chain(args.cert, args.key)
    print("listening on %s:%d" % server.server_address, flush=True)
    threading.Timer(args.seconds, server.shutdown).start()
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
