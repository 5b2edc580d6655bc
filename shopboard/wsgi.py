import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopboard.settings")

application = get_wsgi_application()

# Everything loaded so far lives as long as the process: out of the
# collector's reach, a full collection walks only what requests allocate (docs/bench.md).
gc.freeze()
