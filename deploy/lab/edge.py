#!/usr/bin/env python3
"""edge.py: Cloudflare's edge, simulated, for the 521 lab.

The lab cannot reach Cloudflare, so this stands in for its edge: a reverse
proxy that visitors reach over HTTPS, and that opens a new connection to your
origin (nginx on the VPS) for every request, in one of Cloudflare's SSL/TLS
encryption modes. When the origin fails, it answers with Cloudflare's own
52x code for that failure, and logs one line that says what it saw.

    python3 deploy/lab/edge.py --cert edge.crt --key edge.key --listen 127.0.0.1:8443 \\
        --origin 10.200.0.1 --host demo.example.com --origin-ca origin-ca.crt
    curl --cacert edge-ca.crt --resolve demo.example.com:8443:127.0.0.1 \\
        https://demo.example.com:8443/

# ANCHOR: codes
  code  Cloudflare's condition (its words, shortened)   this simulator, when
  520   "the origin server returns an empty, unknown,   the origin connected, then sent nothing,
        or unexpected response"                          no valid HTTP head, or reset
  521   "the origin web server refuses connections      connect() gets ECONNREFUSED (an RST)
        from Cloudflare"
  522   no SYN+ACK "within 19 seconds of Cloudflare     connect() times out (--connect-timeout)
        sending a SYN"
  523   "Cloudflare cannot contact your origin": a      ENETUNREACH or EHOSTUNREACH, or the
        device "does not have a route" to its IP        name does not resolve
  524   "the origin did not provide an HTTP response    nothing arrives for --read-timeout
        before the ... Proxy Read Timeout" (100 s)
  525   "the SSL handshake between Cloudflare and the   the TLS handshake fails (full, strict):
        origin web server failed" (Full, Full strict)   plain HTTP on 443, a close, no cipher
  526   "Cloudflare is unable to verify the SSL         the certificate does not verify (strict):
        certificate on your origin server" (strict)     expired, unknown CA, self-signed, wrong name
# ANCHOR_END: codes

Sources: https://developers.cloudflare.com/support/troubleshooting/http-status-codes/
cloudflare-5xx-errors/error-520/ (and error-521/ ... error-526/). 520 and 524 were
read as published pages; the others in their source (github.com/cloudflare/
cloudflare-docs, src/content/docs/ + the same path), so those addresses are
where it is published, not pages seen. An older 522 page said 15 s (support.
cloudflare.com/hc/en-us/articles/200171906-Error-522); the newest 524 source
says 120 s where the published page and fundamentals/reference/connection-limits/
say 100 s. The headers: fundamentals/reference/http-request-headers/.

Not simulated: caching, keep-alive and HTTP/2 to the origin (a fresh connection
per request shows a failure on the very next one), and Full mode following the
visitor's scheme (an http:// visitor reaches port 80).
"""

import argparse
import errno
import re
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import threading

MAX_HEAD = 16 * 1024            # a visitor's request line and headers
MAX_BODY = 1024 * 1024          # a visitor's body
MAX_RESPONSE = 8 * 1024 * 1024  # the origin's body, read whole before it is sent on
MAX_VISITORS = 64               # connections served at once; more are closed
VISITOR_TIMEOUT = 30            # seconds a visitor may stay silent

# The titles of Cloudflare's error pages (and of our own 4xx/501).
PHRASES = {
    400: "Bad request", 413: "Payload too large", 501: "Not implemented",
    520: "Web server is returning an unknown error", 521: "Web server is down",
    522: "Connection timed out", 523: "Origin is unreachable", 524: "A timeout occurred",
    525: "SSL handshake failed", 526: "Invalid SSL certificate",
}
# Headers about one hop, not the request: each connection has its own, so a
# proxy does not forward them (RFC 9110, section 7.6.1).
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "expect"}
# Headers only the edge may set: a visitor's are dropped, or any visitor
# could tell the origin it is any IP address it likes.
EDGE_HEADERS = {"cf-connecting-ip", "cf-ray", "cf-visitor", "x-forwarded-proto"}

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.[01]")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: ([^\r\n]*))?")
HOST = re.compile(r"([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(:[0-9]+)?")


class EdgeError(Exception):
    """A request that ends in an answer of the edge's own: a code, and the
    detail for the log line."""

    def __init__(self, code, detail):
        super().__init__(detail)
        self.code, self.detail = code, detail


def log(message):
    print("edge: " + message, file=sys.stderr, flush=True)


def read_head(sock, limit):
    """Reads up to the blank line that ends an HTTP head, at most `limit`
    bytes: (head, the bytes after it), or (None, all bytes) if the peer
    closed first. A head with no end in sight is an error, not a wait."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > limit:
            raise ValueError(f"head longer than {limit} bytes")
        chunk = sock.recv(65536)
        if not chunk:
            return None, data
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    if len(head) > limit:
        raise ValueError(f"head longer than {limit} bytes")
    return head, rest


def parse_fields(lines):
    """Header lines into [(name, value)], or ValueError. Strict on purpose: a
    proxy that guesses at a malformed head is how requests get smuggled."""
    fields = []
    for line in lines:
        name, colon, value = line.partition(b":")
        if not colon or not TOKEN.fullmatch(name):
            raise ValueError(f"bad header line {line[:60]!r}")
        fields.append((name.decode("ascii"), value.strip().decode("latin-1")))
    return fields


def field(fields, name):
    return next((v for n, v in fields if n.lower() == name), None)


def content_length(fields):
    """None without one. Two different ones, or one that is not a number, and
    nobody can tell where the message ends: ValueError."""
    values = {v for n, v in fields if n.lower() == "content-length"}
    if not values:
        return None
    value = values.pop()
    if values or not value.isdigit():
        raise ValueError("bad Content-Length")
    return int(value)


def answer(sock, code, reason, headers, body):
    """One response, then the connection closes: a body without a length
    ends where the connection does."""
    lines = [f"HTTP/1.1 {code} {reason}"] + [f"{n}: {v}" for n, v in headers]
    sock.sendall("\r\n".join(lines + ["Connection: close", "", ""]).encode("latin-1") + body)


def error_page(sock, code, ray, host):
    phrase = PHRASES[code]
    body = (f"<!DOCTYPE html>\n<html><head><title>Error {code}: {phrase}</title></head>\n"
            f"<body><h1>{phrase}</h1><p>Error code {code}</p>\n<p>Host: {host}<br>"
            f"Ray ID: {ray}<br>cloudflare-sim, the lab's edge</p></body></html>\n").encode()
    answer(sock, code, phrase, [("Content-Type", "text/html; charset=UTF-8"),
                                ("Content-Length", len(body)), ("Cache-Control", "no-store"),
                                ("CF-Ray", ray), ("Server", "cloudflare-sim")], body)


class Visitor(socketserver.BaseRequestHandler):
    """One visitor's connection: one request, one answer, then close."""

    def handle(self):
        config, visitor_ip, sock = self.server.config, self.client_address[0], self.request
        sock.settimeout(VISITOR_TIMEOUT)
        # The TLS handshake happens here, in the visitor's own thread, not in
        # accept(): a visitor who never finishes it holds up nobody else.
        if config.visitor_tls:
            try:
                sock = config.visitor_tls.wrap_socket(sock, server_side=True)
            except OSError as e:
                log(f"TLS handshake with visitor {visitor_ip} failed: {e}")
                return
        # A Ray ID names the request in the answer, in the origin's request
        # and in our log, as Cloudflare's do: hex digits, then a data centre.
        ray = secrets.token_hex(8) + "-LAB"
        host = config.host or config.origin
        try:
            request = self.read_request(sock, visitor_ip)
            host = config.host or request["host"] or config.origin
            code, detail = self.forward(sock, request, ray, host)
            log(f"{code} from the origin: {detail} (ray {ray})")
        except EdgeError as e:
            log(f"{e.code} {PHRASES[e.code].lower()}: {e.detail} (ray {ray})")
            try:
                error_page(sock, e.code, ray, host)
            except OSError:
                pass  # the visitor has gone; the log line has said what happened
        except OSError as e:
            log(f"visitor {visitor_ip} went away: {e} (ray {ray})")

    def read_request(self, sock, visitor_ip):
        """The visitor's request, checked: anything we cannot parse is a 400."""
        try:
            head, rest = read_head(sock, MAX_HEAD)
            if head is None:
                raise OSError("closed before sending a request")
            request_line, *lines = head.split(b"\r\n")
            match = REQUEST_LINE.fullmatch(request_line)
            if not match:
                raise ValueError(f"bad request line {request_line[:60]!r}")
            fields = parse_fields(lines)
            length = content_length(fields) or 0
            host = field(fields, "host") or ""
            if host and not HOST.fullmatch(host):
                raise ValueError(f"bad Host {host[:60]!r}")
        except (ValueError, UnicodeError) as e:
            raise EdgeError(400, f"from {visitor_ip}: {e}") from None
        if field(fields, "transfer-encoding"):
            raise EdgeError(501, f"from {visitor_ip}: chunked request bodies are not simulated")
        if length > MAX_BODY:
            raise EdgeError(413, f"from {visitor_ip}: a body of {length} bytes")
        if (field(fields, "expect") or "").lower() == "100-continue":
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # or curl waits a second
        body = rest
        while len(body) < length:
            chunk = sock.recv(min(65536, length - len(body)))
            if not chunk:
                raise OSError("closed in the middle of its body")
            body += chunk
        return {"method": match[1].decode(), "target": match[2].decode("latin-1"),
                "fields": fields, "body": body[:length], "visitor_ip": visitor_ip,
                # The name without its port: what SNI and the certificate need.
                "host": re.sub(r":[0-9]+$", "", host).strip("[]"),
                "scheme": "https" if self.server.config.visitor_tls else "http"}

    def forward(self, sock, request, ray, host):
        """The request to the origin on a new connection, and its answer to the
        visitor; or an EdgeError with the 52x it earned."""
        config = self.server.config
        where = f"{config.origin}:{config.origin_port}"
        origin = connect(config, where)
        try:
            if config.mode != "flexible":
                origin = tls_handshake(config, origin, host, where)
            origin.settimeout(config.read_timeout)
            origin.sendall(origin_request(request, ray, host))
            code, reason, fields, body = read_response(origin, request["method"], where)
        except socket.timeout:
            raise EdgeError(524, f"no HTTP response from {where} within "
                                 f"{config.read_timeout:g} s") from None
        except OSError as e:  # a reset or a TLS error, after the request was sent
            raise EdgeError(520, f"{where} failed after the request: {e}") from None
        finally:
            origin.close()
        # The origin's status, headers (its Content-Length or Transfer-Encoding
        # too) and body, as they were; minus what was about its connection to
        # us, and Server, which Cloudflare replaces with its own.
        fields = [(n, v) for n, v in fields
                  if n.lower() not in ("connection", "keep-alive", "server")]
        answer(sock, code, reason, fields + [("CF-Ray", ray), ("Server", "cloudflare-sim")], body)
        return code, f"{request['method']} {request['target']} answered by {where}"


# ANCHOR: connect
def connect(config, where):
    """A TCP connection to the origin, or the 52x that says why not."""
    try:
        return socket.create_connection((config.origin, config.origin_port),
                                        timeout=config.connect_timeout)
    except socket.gaierror as e:
        raise EdgeError(523, f"cannot resolve {config.origin}: {e}") from None
    except socket.timeout:
        # No answer at all, not even a refusal: a firewall that drops the
        # SYN, or a host that is off. Cloudflare waits 19 s for this.
        raise EdgeError(522, f"no answer to SYN from {where} within "
                             f"{config.connect_timeout:g} s") from None
    except ConnectionRefusedError:
        # An RST: the host is up, but nothing listens on the port (or a
        # firewall rejects, rather than drops).
        raise EdgeError(521, f"connection refused by {where}") from None
    except OSError as e:
        if e.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            raise EdgeError(523, f"no route to {where}: {e.strerror}") from None
        raise EdgeError(523, f"cannot reach {where}: {e}") from None
# ANCHOR_END: connect


def tls_handshake(config, raw, host, where):
    """TLS to the origin, as Full (no checks) or Full (strict) make it. The
    socket still has --connect-timeout, from connect()."""
    try:
        return config.origin_tls.wrap_socket(raw, server_hostname=host)
    except ssl.SSLCertVerificationError as e:  # only strict mode verifies
        raise EdgeError(526, f"certificate of {where} for {host}: {e.verify_message}") from None
    except OSError as e:
        # Every ssl.SSLError is an OSError too: plain HTTP on 443 (wrong
        # version number), a close or reset midway, no shared cipher, a timeout.
        raise EdgeError(525, f"TLS handshake with {where} failed: {e}") from None


# ANCHOR: origin_request
def origin_request(request, ray, host):
    """The request as Cloudflare sends it on: the visitor's headers (Host and
    Content-Length kept), minus the hop-by-hop ones, plus the edge's own."""
    fields = [(n, v) for n, v in request["fields"]
              if n.lower() not in HOP_BY_HOP | EDGE_HEADERS | {"x-forwarded-for"}]
    if not field(fields, "host"):
        fields.append(("Host", host))  # an HTTP/1.0 visitor may send none
    visitor_ip, scheme = request["visitor_ip"], request["scheme"]
    # Appended to, as by every proxy on the way: the visitor can write the
    # start of it, so the origin should trust CF-Connecting-IP instead.
    forwarded = [v for n, v in request["fields"] if n.lower() == "x-forwarded-for"]
    fields += [("CF-Connecting-IP", visitor_ip),
               ("X-Forwarded-For", ", ".join(forwarded + [visitor_ip])),
               ("X-Forwarded-Proto", scheme), ("CF-Ray", ray),
               ("CF-Visitor", '{"scheme":"%s"}' % scheme),
               ("Connection", "close")]  # a new connection per request, none reused
    head = f"{request['method']} {request['target']} HTTP/1.1\r\n"
    head += "".join(f"{n}: {v}\r\n" for n, v in fields) + "\r\n"
    return head.encode("latin-1") + request["body"]
# ANCHOR_END: origin_request


def read_response(origin, method, where):
    """The origin's answer, (code, reason, fields, body), or a 520 if it is
    none. The body is read whole (at most MAX_RESPONSE bytes) before any of
    it goes to the visitor, so that a broken answer still becomes a clean 520."""
    try:
        head, rest = read_head(origin, 64 * 1024)
    except ValueError as e:
        raise EdgeError(520, f"{where} sent a response {e}") from None
    except ConnectionResetError:
        raise EdgeError(520, f"{where} reset the connection after the request") from None
    if head is None and not rest:
        raise EdgeError(520, f"{where} closed the connection without answering")
    if head is None:
        raise EdgeError(520, f"{where} answered with no HTTP head: {rest[:40]!r}")
    status_line, *lines = head.split(b"\r\n")
    try:
        status = STATUS_LINE.fullmatch(status_line)
        if not status:
            raise ValueError(f"not an HTTP status line: {status_line[:40]!r}")
        fields = parse_fields(lines)
        length = content_length(fields)
        if length is not None and field(fields, "transfer-encoding"):
            raise ValueError("both Content-Length and Transfer-Encoding")
        if status[1].startswith(b"1"):
            raise ValueError("an interim 1xx answer, which the lab does not simulate")
    except (ValueError, UnicodeError) as e:
        raise EdgeError(520, f"{where} answered with an invalid response: {e}") from None
    code, reason = int(status[1]), (status[2] or b"").decode("latin-1")
    if method == "HEAD" or code in (204, 304):
        return code, reason, fields, b""
    # With a Content-Length, exactly that; without (chunked, or "until the
    # end"), until the origin closes, as it must after Connection: close.
    wanted = MAX_RESPONSE + 1 if length is None else min(length, MAX_RESPONSE + 1)
    body = rest
    while len(body) < wanted:
        chunk = origin.recv(min(65536, wanted - len(body)))
        if not chunk:
            break
        body += chunk
    if len(body) > MAX_RESPONSE:
        raise EdgeError(520, f"{where} sent more than the lab's limit, {MAX_RESPONSE} bytes")
    if length is not None and len(body) < length:
        raise EdgeError(520, f"{where} closed after {len(body)} of {length} body bytes")
    return code, reason, fields, body[:wanted]


class Edge(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A thread per visitor, so that one slow origin does not stall the others;
    daemon threads, so that a signal ends the program at once."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, config):
        self.config, self.slots = config, threading.BoundedSemaphore(MAX_VISITORS)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Visitor)

    def process_request(self, request, client_address):
        # Threads are bounded too: past MAX_VISITORS at once, close at once.
        if not self.slots.acquire(blocking=False):
            log(f"too many visitors ({MAX_VISITORS}); closed {client_address[0]}")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="A simulated Cloudflare edge: an HTTPS reverse proxy in front of an "
                    "origin that answers Cloudflare's 520-526 when the origin fails the way "
                    "each code means, and logs one line per request on stderr.",
        epilog="Modes, as Cloudflare's: flexible = plain HTTP to the origin (port 80); "
               "full = TLS (443), any certificate; strict = Full (strict): TLS, and the "
               "certificate must chain to --origin-ca (or the system's CAs), be in date and "
               "name the host.")
    add = parser.add_argument
    add("--listen", default="127.0.0.1:8443", metavar="ADDR:PORT",
        help="where visitors connect (default %(default)s; port 0 picks a free one)")
    add("--listen-plain", action="store_true",
        help="serve visitors plain HTTP, not HTTPS (then the origin is told scheme http)")
    add("--cert", help="the edge's certificate chain (PEM), shown to visitors")
    add("--key", help="the private key of --cert (PEM)")
    add("--origin", required=True, metavar="IP", help="the origin's address (or a name)")
    add("--origin-port", type=int, metavar="PORT",
        help="the origin's port (default 80 with --mode flexible, else 443)")
    add("--host", metavar="NAME", help="the site's name, for SNI and the certificate "
        "check (default: the visitor's Host)")
    add("--mode", choices=("flexible", "full", "strict"), default="strict",
        help="Cloudflare's SSL/TLS encryption mode (default %(default)s)")
    add("--origin-ca", metavar="FILE", help="the CA certificates (PEM) strict mode trusts, "
        "as Cloudflare trusts its Origin CA (default: the system's)")
    add("--connect-timeout", type=float, default=5.0, metavar="SECONDS",
        help="the wait for the TCP handshake, then 522 (default %(default)g; Cloudflare's: 19)")
    add("--read-timeout", type=float, default=10.0, metavar="SECONDS",
        help="the longest silence from the origin, then 524 (default %(default)g; "
             "Cloudflare's Proxy Read Timeout: 100)")
    args = parser.parse_args(argv)
    if not args.listen_plain and not (args.cert and args.key):
        parser.error("HTTPS needs --cert and --key (or --listen-plain)")
    if args.origin_ca and args.mode != "strict":
        parser.error("--origin-ca is only for --mode strict")
    if args.origin_port is None:
        args.origin_port = 80 if args.mode == "flexible" else 443
    return args


def main(argv):
    config = parse_args(argv)
    config.visitor_tls = None
    if not config.listen_plain:
        config.visitor_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        config.visitor_tls.load_cert_chain(config.cert, config.key)
    if config.mode == "full":  # encrypted, but anyone's certificate will do
        config.origin_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        config.origin_tls.check_hostname = False
        config.origin_tls.verify_mode = ssl.CERT_NONE
    elif config.mode == "strict":  # a chain to a trusted CA, in date, naming the host
        config.origin_tls = ssl.create_default_context(cafile=config.origin_ca)
    listen_host, _, listen_port = config.listen.rpartition(":")
    server = Edge((listen_host.strip("[]"), int(listen_port)), config)

    # SIGTERM (systemd, kill) and SIGINT (Ctrl-C) end serve_forever() at once:
    # the exception unwinds it, and the visitors' threads are daemons. A second
    # signal is ignored: arriving while Python shuts down, it would kill it.
    def stop(signum, _frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        log(f"stopped by {signal.Signals(signum).name}")
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    address, port = server.server_address[:2]
    address = f"[{address}]" if ":" in address else address
    log(f"listening on {'http' if config.listen_plain else 'https'}://{address}:{port}, "
        f"origin {config.origin}:{config.origin_port}, mode {config.mode}")
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
