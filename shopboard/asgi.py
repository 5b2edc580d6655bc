"""The ASGI application: the board's event stream (repairs/live_views.py) needs it.

Production serves the stream path with uvicorn beside gunicorn's sync workers
(docs/operations.md); `manage.py rundemo` and the browser tests serve the whole
site with it, static files included (WhiteNoise in DEBUG finds them).
"""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")

application = get_asgi_application()

# As in wsgi.py: what is loaded now lives as long as the process (docs/bench.md).
gc.freeze()
