#!/usr/bin/env python3
"""Raw-socket probes for tests/deploy/system.sh, where curl cannot go.

  probes.py slow-login HOST PORT GO_FILE
      Sends a login request's head and half its body, prints "started",
      waits (at most 20 s) until GO_FILE exists, sends the rest, and prints
      the status line of the answer, or "no answer: ..." when the
      connection closed without one. The test restarts the service in
      between: a request already begun must still be answered (the drain).

  probes.py smuggle HOST PORT NAME CA_FILE TAG
      Over TLS to nginx (HOST:PORT, server name NAME, trusting CA_FILE; or
      CA_FILE "plain" for plain TCP, straight to the backend),
      sends request-smuggling attempts: CL.TE, TE.CL and obfuscated
      Transfer-Encoding variants, each hiding a second request for
      /smuggled-TAG-N in what the front end should treat as a body. Prints,
      for each, the status lines nginx answered. Whether the hidden request
      reached the backend as a request of its own is for the caller to
      check, in the backend's log.
"""

import os
import socket
import ssl
import sys
import time


def read_answer(sock, limit=65536):
    """Reads until the peer closes or goes quiet; returns the bytes."""
    data = b""
    sock.settimeout(3)
    try:
        while len(data) < limit:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return data


def status_lines(data):
    return [line.decode("latin-1") for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.")]


def slow_login(host, port, go_file):
    body = b'{"username":"nobody-slow","password":"not the password"}'
    head = (
        "POST /api/login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection((host, int(port)), timeout=5)
    half = len(body) // 2
    sock.sendall(head + body[:half])
    print("started", flush=True)
    deadline = time.monotonic() + 20
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            print("no go signal within 20 s")
            return 1
        time.sleep(0.05)
    try:
        sock.sendall(body[half:])
    except OSError as error:
        print(f"no answer: the rest of the body could not be sent ({error})")
        return 0
    answer = read_answer(sock)
    lines = status_lines(answer)
    print(lines[0] if lines else f"no answer: {answer[:80]!r}")
    return 0


def smuggle(host, port, name, ca_file, tag):
    hidden = f"GET /smuggled-{tag}-{{n}} HTTP/1.1\r\nHost: {name}\r\n\r\n"
    variants = [
        # CL.TE: a front end that believes Content-Length forwards it all; a
        # back end that believes chunked stops at 0 and reads the rest as a
        # new request.
        ("CL.TE", "Content-Length: {cl}\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n{hidden}"),
        # TE.CL: the other way round: the chunk holds the hidden request, and
        # a back end that believes Content-Length: 4 reads it as a new one.
        ("TE.CL", "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "{size:x}\r\n{hidden}\r\n0\r\n\r\n"),
        ("TE obfuscated (space before colon)", "Content-Length: {cl}\r\nTransfer-Encoding : chunked\r\n", "0\r\n\r\n{hidden}"),
        ("TE obfuscated (xchunked)", "Content-Length: {cl}\r\nTransfer-Encoding: xchunked\r\n", "0\r\n\r\n{hidden}"),
        ("TE obfuscated (chunked, identity)", "Content-Length: {cl}\r\nTransfer-Encoding: chunked, identity\r\n", "0\r\n\r\n{hidden}"),
        ("TE twice", "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: {cl}\r\n", "0\r\n\r\n{hidden}"),
        ("CL twice, different", "Content-Length: {cl}\r\nContent-Length: 5\r\n", "0\r\n\r\n{hidden}"),
    ]
    context = None if ca_file == "plain" else ssl.create_default_context(cafile=ca_file)
    for n, (label, headers, body) in enumerate(variants):
        hidden_request = hidden.format(n=n)
        body = body.format(hidden=hidden_request, size=len(hidden_request))
        head = f"POST /api/echo HTTP/1.1\r\nHost: {name}\r\nContent-Type: text/plain\r\n"
        head += headers.format(cl=len(body)) + "\r\n"
        honest = f"GET /api/status HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            sock = raw if context is None else context.wrap_socket(raw, server_hostname=name)
            try:
                sock.sendall(head.encode() + body.encode())
                # A second, honest request on the same connection: where a
                # desync happened, its answer would be the hidden one's.
                sock.sendall(honest.encode())
            except OSError:
                pass  # refused and closed before we were done: fine
            lines = status_lines(read_answer(sock))
        print(f"{label}: {' | '.join(lines) or 'no answer'}")
    return 0


def main(argv):
    if len(argv) == 5 and argv[1] == "slow-login":
        return slow_login(*argv[2:])
    if len(argv) == 7 and argv[1] == "smuggle":
        return smuggle(*argv[2:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
