"""`manage.py rundemo`: the whole product on one laptop.

Starts a real Celery worker process with embedded beat (the outbox sweep) on
whatever broker the settings name — kombu's filesystem transport when none is
configured — then serves the site in this process on uvicorn, the ASGI server
(shopboard/asgi.py): the board's event stream needs one, and `runserver` is
WSGI only. Pages, the API and static files come from the same address. The worker is
stopped when the server stops (Ctrl-C or SIGTERM), and so, by manage.py, is
the embedded PostgreSQL when this command started it (shopboard/embedded_db.py).

Unless OBS_UPDATE_URL is set in the environment, the worker sends OBS
updates to the server's own demo receiver (/demo/obs/updateevent/, DEBUG
only), so a drag on the board reaches "OBS" with no internet: watch them
arrive at /demo/obs/. With DEBUG on, every shop also gets a webhook
endpoint at the demo receiver (/demo/webhooks/, docs/webhooks.md).
"""

import ctypes
import os
import signal
import subprocess
import sys
import threading

import uvicorn
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

DEMO_OBS_API_KEY = "demo-obs-key"


def _die_with_parent() -> None:
    # Linux: should rundemo itself be killed outright (no chance to stop the
    # worker), the kernel sends the worker SIGTERM.
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _split_addrport(addrport: str) -> tuple[str, str]:
    if addrport.isdigit():
        return "127.0.0.1", addrport
    host, sep, port = addrport.rpartition(":")
    if not sep or not port.isdigit():
        raise CommandError(f"'{addrport}' is not a port or address:port.")
    return host.strip("[]") or "127.0.0.1", port


class Command(BaseCommand):
    _stopping = False
    help = "Serve the site (uvicorn) with a real Celery worker and beat (the OBS outbox) beside it."

    def add_arguments(self, parser):
        parser.add_argument(
            "addrport", nargs="?", default="127.0.0.1:8000", help="Port or address:port to serve on."
        )
        parser.add_argument(
            "--load-demo",
            action="store_true",
            help="Migrate and load the demo data (seed_demo) first, in this process (what `make run` does).",
        )

    def handle(self, *args, addrport: str, load_demo: bool, **options):
        if load_demo:
            # One process for all of `make run`: Django and the embedded
            # PostgreSQL start once, not once per command.
            call_command("migrate", interactive=False, verbosity=0)
            call_command("seed_demo", stdout=self.stdout)
        host, port = _split_addrport(addrport)
        reach = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
        reach = f"[{reach}]" if ":" in reach else reach
        env = os.environ.copy()
        if "OBS_UPDATE_URL" not in env:
            env["OBS_UPDATE_URL"] = f"http://{reach}:{port}/demo/obs/updateevent/"
            if not settings.DEBUG:
                self.stderr.write("DEBUG is off: the demo OBS receiver is not routed; set OBS_UPDATE_URL.")
        env.setdefault("OBS_API_KEY", DEMO_OBS_API_KEY)
        webhooks_url = self._demo_webhooks(env, f"http://{reach}:{port}/demo/webhooks/receive/")

        worker = self._start_worker(env)
        threading.Thread(target=self._watch, args=(worker,), daemon=True).start()
        broker = settings.CELERY_BROKER_URL.split("@")[-1]  # never print a password
        self.stdout.write(f"Celery worker with beat started (pid {worker.pid}, broker {broker}).")
        database = settings.DATABASES["default"]
        self.stdout.write(f"Database {database['NAME']} on {database['HOST'] or 'localhost'}.")
        self.stdout.write(f"OBS updates go to {env['OBS_UPDATE_URL']}")
        if "/demo/obs/" in env["OBS_UPDATE_URL"]:
            self.stdout.write(f"See what the demo OBS received at http://{reach}:{port}/demo/obs/")
        if webhooks_url:
            self.stdout.write(
                f"Webhooks of every shop also go to {webhooks_url}; see http://{reach}:{port}/demo/webhooks/"
            )
        self.stdout.write(f"Serving http://{reach}:{port}/ (uvicorn; Ctrl-C stops the demo).")
        # uvicorn stops on SIGINT and SIGTERM by itself, then hands the signal on:
        # make SIGTERM end quietly like Ctrl-C, so the worker is stopped however the demo is stopped.
        previous = signal.signal(signal.SIGTERM, self._interrupt)
        try:
            uvicorn.run(
                get_asgi_application(),
                host=host,
                port=int(port),
                lifespan="off",
                # Open board streams never end by themselves.
                timeout_graceful_shutdown=1,
                log_level="warning",
            )
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self._stop_worker(worker)

    def _watch(self, worker: subprocess.Popen) -> None:
        code = worker.wait()
        if not self._stopping:
            self.stderr.write(
                f"The Celery worker exited (code {code}): OBS updates stay pending until it runs again."
            )

    @staticmethod
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    def _demo_webhooks(self, env: dict[str, str], url: str) -> str | None:
        """With DEBUG on, an endpoint per shop at the demo receiver, and the
        private-address rule lifted (SPEC §9: on in the demo) for this
        process and the worker, both of which talk to this local server."""
        if not settings.DEBUG:
            return None
        from integrations.webhooks.demo import demo_endpoints_ensure

        env.setdefault("WEBHOOKS_ALLOW_PRIVATE", "1")
        settings.WEBHOOKS_ALLOW_PRIVATE = env["WEBHOOKS_ALLOW_PRIVATE"] == "1"
        if not settings.WEBHOOKS_ALLOW_PRIVATE:
            return None
        demo_endpoints_ensure(url=url)
        return url

    def _start_worker(self, env: dict[str, str]) -> subprocess.Popen:
        folder = settings.CELERY_BROKER_FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        # Two processes, as production runs them: OBS updates stay in order
        # through the same per-RO lock (integrations/delivery/locks.py).
        cmd = [
            sys.executable, "-m", "celery", "-A", "shopboard", "--quiet", "worker",
            "--beat",
            # On a laptop one worker serves deliveries and the sweep's own queue;
            # production runs a sweeper of its own (docs/operations.md).
            "--queues", f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.OBS_SWEEP_QUEUE}",
            "--concurrency", "2", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        return subprocess.Popen(
            cmd, cwd=settings.BASE_DIR, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )

    def _stop_worker(self, worker: subprocess.Popen) -> None:
        self._stopping = True
        if worker.poll() is None:
            self.stdout.write(f"Stopping the Celery worker (pid {worker.pid})…")
            # The main process only: it stops its pool and beat (warm shutdown).
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(timeout=5)
        try:
            os.killpg(worker.pid, signal.SIGKILL)  # a pool child left behind, if any
        except ProcessLookupError:
            pass
