"""Stand-in for ``tests/cache/models.py`` of Django's test-suite, which `test_cache_django_suite` imports.

Django's module declares ``Poll`` in its own test app ``cache``; that label is the project's cache
app here, so this copy (same fields, same ``expensive_calculation``) belongs to the ``platform``
app, which has no tables of its own. Its table exists only inside that test class's transaction
(created in ``setUpTestData``), so nothing else ever sees it.
"""

from django.db import models
from django.utils import timezone


def expensive_calculation():
    expensive_calculation.num_runs += 1
    return timezone.now()


class Poll(models.Model):
    question = models.CharField(max_length=200)
    answer = models.CharField(max_length=200)
    pub_date = models.DateTimeField("date published", default=expensive_calculation)

    class Meta:
        app_label = "platform"
        db_table = "django_cache_suite_poll"

    def __str__(self) -> str:
        return self.question
