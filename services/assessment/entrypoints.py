"""What the assessment's entrypoint mixins share (each sub-domain's
``entrypoints.py`` subclasses it; ``AssessmentService`` combines them)."""

from sifuwu.access import actor
from services.assessment.domain import month_of
from services.assessment.settings import AssessmentSettings
from services.assessment.storage import Reader


class AssessmentEntrypoints:
    """Helpers for entrypoints; needs ``store``, ``clock`` and ``settings``
    as ``sifuwu.service.ServiceBase`` provides them."""

    settings_class = AssessmentSettings

    def _staff(self, request):
        return actor(request)

    def _month(self, moment):
        """The assessment month of an instant, in the service's timezone."""
        return month_of(moment, self.settings.tz)

    def _reads(self, repository):
        """``repository`` over the store, outside a transaction (queries)."""
        return Reader(self.store.db, repository).repo
