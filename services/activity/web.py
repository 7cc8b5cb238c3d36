"""What the activity entrypoints share: the staff's identity, the query of
the staff lists and the shape of a page."""

from marshmallow import ValidationError

from sifuwu.access import actor
from sifuwu.errors import DomainError
from services.activity.schemas import QuerySchema

# Caller mistakes: answered, logged as warnings, not as errors.
EXPECTED = (ValidationError, DomainError)


def staff_identity(request, settings=None):
    """Who is acting (the policy check ran before the entrypoint)."""
    return actor(request)


def scoped_query(request, query):
    """``query`` narrowed to the caller's unit or branch (``Grant.narrow``);
    None makes an empty page."""
    return request.grant.narrow(query)


def empty_page(query):
    return {"items": [], "total": 0, "page": query["page"],
            "per_page": query["per_page"]}


def query_args(request):
    """Query-string arguments, refusing repeated keys."""
    args = {}
    for key, values in request.args.lists():
        if len(values) > 1:
            raise ValidationError({key: ["参数不能重复"]})
        args[key] = values[0]
    return QuerySchema().load(args)


def page_body(page, schema):
    return dict(page, items=schema.dump(page["items"], many=True))
