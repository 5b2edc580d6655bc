"""https through the guard's pinned address: TLS is still verified for the
URL's host name (SNI and certificate), against a local TLS server with a
self-signed certificate the test makes and trusts."""

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509

from integrations.webhooks import transport
from tests.certificates import self_signed


@pytest.fixture
def tls_server(tmp_path):
    # The name only: a URL naming the address must fail verification.
    cert_path, key_path = self_signed(tmp_path, common_name="localhost", alt_name=x509.DNSName("localhost"))
    seen = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen["hosts"].append(self.headers.get("Host"))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a refused handshake is what some tests want

    server = Server(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert_path, seen
    server.shutdown()
    server.server_close()


def test_https_to_the_pinned_address_verifies_the_urls_host(settings, tls_server):
    port, cert_path, seen = tls_server
    settings.WEBHOOKS_ALLOW_PRIVATE = True  # the server is on 127.0.0.1
    settings.WEBHOOKS_CA_BUNDLE = str(cert_path)
    result = transport.post_message(url=f"https://localhost:{port}/hooks", body="{}", headers={})
    assert result.delivered and result.http_status == 204
    assert seen["sni"] == ["localhost"] and seen["hosts"] == [f"localhost:{port}"]


def test_https_with_a_certificate_for_another_name_fails(settings, tls_server):
    port, cert_path, _ = tls_server
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_CA_BUNDLE = str(cert_path)
    result = transport.post_message(url=f"https://127.0.0.1:{port}/hooks", body="{}", headers={})
    assert not result.delivered and "doesn't match 'localhost'" in result.error


def test_https_with_an_untrusted_certificate_fails(settings, tls_server):
    port, _, _ = tls_server
    settings.WEBHOOKS_ALLOW_PRIVATE = True
    settings.WEBHOOKS_CA_BUNDLE = ""
    result = transport.post_message(url=f"https://localhost:{port}/hooks", body="{}", headers={})
    assert not result.delivered and "certificate verify failed" in result.error
