"""Feedback service (评价服务): the nameko service, its dependencies and its
entrypoints (mixins from ``services.feedback.entrypoints``).

Public (recipients, on a phone): ``/f/<token>`` rating pages,
``/publicity`` board with the objection form, and their JSON equivalents.
Staff (bearer token): rectifications, appeals, objections, recommendations.
"""

from sifuwu.group import GroupCommit
from sifuwu.service import ServiceBase
from sifuwu.store import IN_CHUNK
from services.feedback import repository
from services.feedback.dependencies import RateLimits
from services.feedback.entrypoints.board import BoardEntrypoints
from services.feedback.entrypoints.cases import CaseEntrypoints
from services.feedback.entrypoints.consumers import ConsumerEntrypoints
from services.feedback.entrypoints.ratings import RatingEntrypoints
from services.feedback.settings import FeedbackSettings


class FeedbackService(RatingEntrypoints, CaseEntrypoints, BoardEntrypoints,
                      ConsumerEntrypoints, ServiceBase):
    name = "feedback"
    indexes = repository.INDEXES
    settings_class = FeedbackSettings

    # the rate-limit counters (in the store, shared by every replica), and
    # per container the ratings its requests submit while another batch is
    # being written (group commit)
    rate_limits = RateLimits()
    rating_writes = GroupCommit(max_batch=IN_CHUNK)
