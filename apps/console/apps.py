from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator's view over every app: the admin dashboard, /health/ and /me/.

    It sits above the domain apps (it reads each through its public selectors) and below the
    project package, so no domain app has to know about the others to be shown on one page.
    """

    name = "apps.console"
    label = "console"
    verbose_name = "Console"
