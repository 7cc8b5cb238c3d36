"""The use cases of the feedback service, one function each, run inside a
unit of work: ``step(uow, ...)`` checks the rule (``domain``), writes through
``uow.repo`` (``repository.FeedbackRepository``) and emits with ``uow.emit``,
all in the same transaction. Time, the timezone and the calendar come in as
arguments. One module per part: invitations, ratings, rectifications,
appeals, recommendations, board (publicity and objections)."""
