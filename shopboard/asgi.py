"""The ASGI application: the board's event stream (repairs/live_views.py) needs it.

Production serves the stream path with uvicorn beside gunicorn's sync workers
(docs/operations.md), and the bench does likewise (bench/harness.py). `manage.py
rundemo` and the tests (tests/servers.py) serve the whole site on uvicorn with
Django's ASGI handler made their own way, not this module.
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")

application = get_asgi_application()

# As in wsgi.py: what is loaded now lives as long as the process (docs/bench.md).
gc.freeze()
