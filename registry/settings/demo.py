"""Settings of the demo `make run` serves: the development settings (``DJANGO_DEBUG=1``: documented
demo accounts, static files from the source tree, plain HTTP) plus what a visitor of the demo
should meet as in production:

* the site's own 404 and 500 pages instead of Django's debug pages (tracebacks still go to the
  console; 403 already uses the site's page in DEBUG);
* the submit wizard offers the emulator's running demo instances.
"""
from registry.settings.base import *  # noqa: F401,F403
from registry.settings.base import MIDDLEWARE, TEMPLATES

MIDDLEWARE = [*MIDDLEWARE, "registry.web_errors.SiteErrorPagesMiddleware"]
# New lists and dicts: the base module's own stay as they are.
TEMPLATES = [{**TEMPLATES[0], "OPTIONS": {
    **TEMPLATES[0]["OPTIONS"],
    "context_processors": [*TEMPLATES[0]["OPTIONS"]["context_processors"], "amis.demo.demo_context"]}}]
