"""Domain errors that map to HTTP answers: a status, a machine code and a
zh-CN message for people. Services raise these; the HTTP layer maps them."""


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "请求无法处理"

    def __init__(self, message=None, *, code=None, status=None, fields=None):
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields
        super().__init__(self.message)


class NotFound(DomainError):
    status = 404
    code = "not_found"
    message = "未找到"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    message = "状态冲突"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    message = "缺少或无效的访问令牌"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    message = "无权执行此操作"


class Gone(DomainError):
    status = 410
    code = "gone"
    message = "链接已失效"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"
    message = "请求体过大"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"
    message = "请求过于频繁，请稍后再试"
