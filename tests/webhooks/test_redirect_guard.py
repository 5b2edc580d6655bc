"""The guard on (SPEC §9, issue 12): a message to an allowed https URL whose
server answers 302 to a private address is never followed there.

The allowed URL needs a server on a public address, which a loopback test
server is not (the guard refuses 127.0.0.1 before connecting). So the test
makes one: a network namespace joined to this one by a veth pair whose far
end carries a globally routable address (a /30 of 11.0.0.0/8, routed only
over that pair, to this machine only), an https server there with a
self-signed certificate for that address, trusted only by the worker
(WEBHOOKS_CA_BUNDLE in its environment). The server redirects to the test's
private receiver on 127.0.0.1. A real worker with the guard on delivers the
message; the receiver must get nothing, and the message must end failed,
saying why. Needs root (ip netns); skipped, saying so, where namespaces
cannot be made.
"""

import ipaddress
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography import x509

from integrations.webhooks import services
from integrations.webhooks.models import WebhookMessage
from integrations.webhooks.transport import _address_refusal
from repairs.services import repair_order_move
from tests import factories
from tests.certificates import self_signed
from tests.obs.support import wait_until
from tests.webhooks.conftest import start_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REDIRECTOR = Path(__file__).with_name("public_redirector.py")
PORT = 8443


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def _addresses() -> tuple[str, str, str]:
    """This run's /30 of 11.0.0.0/8 (a DoD block, globally routable, never
    reached from here): near end, far end, and a short name for the run."""
    tag = uuid.uuid4().hex[:6]
    block = int(tag, 16) % (1 << 22)  # one of 4M /30s
    base = int(ipaddress.IPv4Address("11.0.0.0")) + block * 4
    return str(ipaddress.IPv4Address(base + 1)), str(ipaddress.IPv4Address(base + 2)), tag


@pytest.fixture
def public_redirector(tmp_path, receiver):
    """(https URL on a public address, its certificate, its request log),
    redirecting every POST to the private receiver."""
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed: cannot make a network namespace")
    near, far, tag = _addresses()
    namespace, near_link, far_link = f"sb-redirect-{tag}", f"sbr{tag}a", f"sbr{tag}b"
    try:
        _ip("netns", "add", namespace)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"cannot make a network namespace here (needs root): {exc.stderr.strip()}")
    server = None
    try:
        _ip("link", "add", near_link, "type", "veth", "peer", "name", far_link)
        _ip("link", "set", far_link, "netns", namespace)
        _ip("addr", "add", f"{near}/30", "dev", near_link)
        _ip("link", "set", near_link, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{far}/30", "dev", far_link)
        _ip("netns", "exec", namespace, "ip", "link", "set", far_link, "up")
        _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        cert, key = self_signed(tmp_path, common_name=far, alt_name=x509.IPAddress(ipaddress.ip_address(far)))
        log = tmp_path / "redirector.log"
        log.touch()
        private = receiver.url_for("/internal")
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, sys.executable, str(REDIRECTOR),
             far, str(PORT), str(cert), str(key), private, str(log)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert server.stdout.readline().strip() == "ready", server.stderr.read()
        yield f"https://{far}:{PORT}/hooks", cert, log
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
        subprocess.run(["ip", "link", "del", near_link], capture_output=True)
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)


def test_with_the_guard_on_a_redirect_to_a_private_address_is_refused_and_the_message_fails(
    public_redirector, receiver, shop, tmp_path, settings
):
    url, cert, redirector_log = public_redirector
    # The guard is on here too: the endpoint's URL is accepted as it is.
    settings.WEBHOOKS_ALLOW_PRIVATE = False
    assert _address_refusal(url.split("//")[1].split(":")[0]) is None
    hook, _ = services.endpoint_create(shop_id=shop.id, url=url, events=["repair_order.stage_changed"])
    worker = start_worker(
        receiver,
        tmp_path,
        WEBHOOKS_ALLOW_PRIVATE="0",
        WEBHOOKS_CA_BUNDLE=str(cert),
        # Three attempts a fraction of a second apart, then failed.
        WEBHOOKS_RETRY_WINDOW_SECONDS="0.5",
    )
    try:
        ro = factories.make_repair_order(shop=shop)
        repair_order_move(repair_order_id=ro.id, stage_id=5, source="board")
        message = WebhookMessage.objects.get(endpoint=hook)
        done = wait_until(
            lambda: WebhookMessage.objects.filter(pk=message.pk, state=WebhookMessage.State.FAILED).first(),
            timeout=30,
            message="the message to fail",
        )
    finally:
        worker.stop()
    private = receiver.url_for("/internal")
    # It reached the public server (the guard let it through, TLS verified)...
    answered = redirector_log.read_text().splitlines()
    assert answered and all(line == f"/hooks {message.public_id}" for line in answered)
    # ...which redirected it inside; the private server got nothing.
    assert receiver.received == []
    attempts = list(done.attempts.order_by("id"))
    assert attempts and all(a.http_status == 302 for a in attempts)
    reason = f"HTTP 302: redirected to {private}; redirects are not followed."
    assert all(a.error == reason for a in attempts)
    assert done.last_error == f"Gave up after {len(attempts)} attempts. Last: {reason}"
