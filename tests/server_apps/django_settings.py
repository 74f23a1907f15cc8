"""Settings of the one-module Django project ``django_app``."""

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "django_app"
MIDDLEWARE: list[str] = []
SECRET_KEY = "test-only"  # noqa: S105 - a throwaway key for the test project
