"""What the assessment's entrypoint mixins share (each sub-domain's
``entrypoints.py`` subclasses it; ``AssessmentService`` combines them)."""

from sifuwu.access import CITY, actor
from services.assessment.directory.repository import DirectoryRepository
from services.assessment.domain import month_of
from services.assessment.settings import AssessmentSettings
from services.assessment.storage import Reader


class AssessmentEntrypoints:
    """Helpers for entrypoints; needs ``store``, ``clock`` and ``settings``
    as ``sifuwu.service.ServiceBase`` provides them."""

    settings_class = AssessmentSettings

    def _staff(self, request):
        return actor(request)

    def _check_subject(self, request, subject_type, subject_id):
        """404 for a subject (member, branch, unit) outside a unit-bound
        caller's unit or branch, from the directory copy: existence does
        not leak. City-wide callers pass."""
        grant = request.grant
        if grant.scope == CITY:
            return
        if subject_type == "unit":
            unit_id, branch_id = subject_id, None
        else:
            entry = self._reads(DirectoryRepository).entry(subject_type,
                                                           subject_id) or {}
            unit_id = entry.get("unit_id")
            branch_id = subject_id if subject_type == "branch" else \
                entry.get("branch_id")
        grant.check(unit_id, branch_id, what="考评对象")

    def _month(self, moment):
        """The assessment month of an instant, in the service's timezone."""
        return month_of(moment, self.settings.tz)

    def _reads(self, repository):
        """``repository`` over the store, outside a transaction (queries)."""
        return Reader(self.store.db, repository).repo
