"""Settings for the test suite: the base settings with fast hashing and a
file-backed SQLite test database (worker threads must see the same data)."""

from sovits_site.settings.base import *  # noqa: F403
from sovits_site.settings.base import DATABASES, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

# The embedded engine's variant search, cut to three candidates: the same code
# path, a tenth of the time per voice.
EMBEDDED_VARIANTS = ["", "f3", "m3"]
# The in-process test workers start and stop many times: no warm-up thread each time
# (tests/synthesis/test_warmup.py turns it on).
WORKER_WARM_UP = False

# django-axes needs the request in authenticate(), which the test client's
# login() does not pass; the lockout test turns it back on.
AXES_ENABLED = False
