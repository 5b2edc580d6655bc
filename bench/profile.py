"""Where a request's time goes: pyinstrument over the real Django stack, in process.

    python -m bench.profile post|patch|board|json|move|deliver [--repeats N] [--html FILE]

Runs against the database a `python -m bench` run left behind (its shops and
its board manager; it makes its own API key), with DEBUG off like the
benchmark's server. Prints the call tree of N requests
(after warm-up requests that are not profiled). This is how the changes in
docs/bench.md were found.

`move`: a board move in the moves shop (section 3), with its SQL statements
counted, with the shop's webhook endpoints enabled and again disabled (the
webhooks section leaves three behind). `deliver`: moves, then their outbox
messages delivered in this process to a local receiver (the endpoints are
pointed at it), with statements and CPU per delivery (section 7).
"""

import argparse
import gc
import json
import os
import sys
import time

from . import harness

os.environ.update(harness.base_env(harness.bench_database_url(), ALLOWED_HOSTS="testserver"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("request", choices=["post", "patch", "board", "json", "move", "deliver"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--html", help="also write pyinstrument's HTML view here")
    args = parser.parse_args(argv)

    import django

    django.setup()
    gc.freeze()  # as shopboard/wsgi.py does after start-up
    from django.contrib.auth import get_user_model
    from django.test import Client
    from pyinstrument import Profiler

    from integrations.services import api_key_create

    from . import board, ingest, payloads

    if args.request in ("move", "deliver"):
        from . import outbox_profile

        return outbox_profile.main(args.request, repeats=args.repeats, html=args.html)
    key, _ = api_key_create(name="profile", shop_ids=[*ingest.SHOP_IDS, board.BOARD_SHOP])
    api = {"Authorization": f"Bearer {key}"}
    client = Client()
    client.force_login(get_user_model().objects.get(username=board.MANAGER))
    tag = f"prof{int(time.time())}"

    def request(i: int):
        if args.request in ("post", "patch"):
            body = payloads.batch(shop_ids=ingest.SHOP_IDS, ros_total=1000, tag=f"{tag}-{i}", seed=i)
            if args.request == "patch":
                client.generic(
                    "POST", "/api/v1/repair-orders", json.dumps(body), "application/json", headers=api
                )
                body = payloads.patch_of(body)
            data, method = json.dumps(body), args.request.upper()
            return lambda: _ok(
                client.generic(method, "/api/v1/repair-orders", data, "application/json", headers=api)
            )
        if args.request == "board":
            return lambda: _ok(client.get(f"/shops/{board.BOARD_SHOP}/board/"))
        url = f"/api/v1/shops/{board.BOARD_SHOP}/repair-orders?limit=200&status=Active"
        cursors = _cursors(client, url, api)
        return lambda: [_ok(client.get(url + (f"&cursor={c}" if c else ""), headers=api)) for c in cursors]

    for i in range(3):
        request(-1 - i)()
    profiler = Profiler(interval=0.0005)
    timings = []
    for i in range(args.repeats):
        send = request(i)  # the request body is built outside the profile
        profiler.start()
        started = time.perf_counter()
        send()
        timings.append((time.perf_counter() - started) * 1000)
        profiler.stop()
    print(f"{args.request}: {', '.join(f'{t:.0f}' for t in timings)} ms (in process, profiler on)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))
    if args.html:
        with open(args.html, "w") as out:
            out.write(profiler.output_html())
    return 0


def _ok(response):
    if response.status_code >= 300:
        raise RuntimeError(f"{response.status_code}: {response.content[:300]!r}")
    return response


def _cursors(client, url: str, api: dict) -> list[str | None]:
    """The cursor of every page, read before profiling."""
    cursors: list[str | None] = [None]
    while True:
        cursor = cursors[-1]
        page = client.get(url + (f"&cursor={cursor}" if cursor else ""), headers=api).json()
        if not page["next_cursor"]:
            return cursors
        cursors.append(page["next_cursor"])


if __name__ == "__main__":
    sys.exit(main())
