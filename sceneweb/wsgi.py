"""WSGI entry point (gunicorn, runserver): the models load here, once per process, before any request.

With gunicorn's `preload_app` this runs once in the master and the workers share the weights;
missing or broken model files stop the start-up with the file and the command that installs it;
static files never collected (`collectstatic`) are named in the log, and the page answers 503
saying so until they are (the API does not need them).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sceneweb.settings")
application = get_wsgi_application()

from classifier.checks import warn_if_static_files_missing  # noqa: E402  (app registry first)
from classifier.runtime import load_models_at_start  # noqa: E402

load_models_at_start()
warn_if_static_files_missing()
