"""Entrypoints of the API clients (接入客户端) for the committee, as a
mixin of the activity service. Thin: load with a schema, run one step,
dump. Who may call each is in ``sifuwu.policy`` (checked before the method
runs); ``actor`` names the account for the audit."""

from sifuwu.access import actor
from sifuwu.contract import listing
from sifuwu.web import http, json_response, load_body
from services.activity.clients import domain, schemas, steps
from services.activity.clients.repository import ClientRepository
from services.activity.web import EXPECTED


class ClientEntrypoints:
    """接入客户端 entrypoints; needs ``store``, ``clock`` and ``settings`` as
    ``ActivityService`` provides them."""

    def _issued(self, client, key, now, status):
        body = schemas.IssuedKeySchema().dump(dict(domain.view(client, now),
                                                   key=key))
        return json_response(body, status=status,
                             headers={"Cache-Control": "no-store"})

    @http("POST", "/api/v1/clients", expected_exceptions=EXPECTED,
          request=schemas.ClientCreateSchema,
          response={201: schemas.IssuedKeySchema},
          summary="发放接入客户端及其密钥（密钥仅此一次显示）")
    def create_client(self, request):
        who = actor(request)
        data = load_body(request, schemas.ClientCreateSchema(),
                         self.settings.max_body_bytes)
        now = self.clock()
        client, key = self.store.transaction(
            lambda uow: steps.create_client(uow, data, actor=who, now=now),
            repository=ClientRepository)
        return self._issued(client, key, now, 201)

    @http("GET", "/api/v1/clients", expected_exceptions=EXPECTED,
          response=listing(schemas.ClientSchema, count=None),
          summary="接入客户端列表（从不显示密钥）")
    def list_clients(self, request):
        now = self.clock()
        clients = steps.list_clients(ClientRepository.reading(self.store.db))
        return json_response({"items": schemas.ClientSchema(many=True).dump(
            [domain.view(client, now) for client in clients])})

    @http("GET", "/api/v1/clients/<client_id>", expected_exceptions=EXPECTED,
          response=schemas.ClientDetailSchema, summary="一个接入客户端及其变更记录")
    def get_client(self, request, client_id):
        repo = ClientRepository.reading(self.store.db)
        client = steps.get_client(repo, client_id)
        return json_response(schemas.ClientDetailSchema().dump(dict(
            domain.view(client, self.clock()),
            history=steps.client_history(repo, client_id))))

    @http("POST", "/api/v1/clients/<client_id>/rotate",
          expected_exceptions=EXPECTED, request=schemas.RotateSchema,
          response={201: schemas.IssuedKeySchema},
          summary="轮换密钥（旧密钥在重叠期内仍有效；请求体可省略）",
          errors={409: "客户端已吊销（client_revoked）"})
    def rotate_client_key(self, request, client_id):
        who = actor(request)
        body = load_body(request, schemas.RotateSchema(),
                         self.settings.max_body_bytes) \
            if request.get_data() else schemas.RotateSchema().load({})
        now = self.clock()
        maximum = self.settings.ingest_key_overlap_seconds
        client, key = self.store.transaction(
            lambda uow: steps.rotate_key(
                uow, client_id, overlap=body["overlap_seconds"],
                max_overlap=maximum, actor=who, now=now),
            repository=ClientRepository)
        return self._issued(client, key, now, 201)

    @http("POST", "/api/v1/clients/<client_id>/revoke",
          expected_exceptions=EXPECTED, request=False,
          response=schemas.ClientSchema, summary="吊销接入客户端（其密钥立即失效）",
          errors={409: "客户端已吊销（client_revoked）"})
    def revoke_client(self, request, client_id):
        who = actor(request)
        now = self.clock()
        client = self.store.transaction(
            lambda uow: steps.revoke_client(uow, client_id, actor=who,
                                            now=now),
            repository=ClientRepository)
        return json_response(schemas.ClientSchema().dump(
            domain.view(client, now)))
