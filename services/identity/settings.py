"""The identity service's settings (身份服务配置): token lifetime, key
rotation, login backoff and lock-out, password hashing costs, the sealing
secrets, the first 工委 account, and the province's OIDC provider
(统一身份认证; off while ``SIFUWU_IDENTITY_OIDC_ISSUER`` is unset). Read like every setting (nameko's config,
then the environment, then the default written here once). The token
issuer, audience and leeway are shared with every verifier
(``sifuwu.access.AccessSettings``)."""

import dataclasses

from sifuwu.access import AccessSettings
from sifuwu.settings import setting
from services.identity import domain, signing
from services.identity.oidc.domain import OidcConfig

SEAL_FALLBACK_LABEL = "identity-seal:"


def _names(text):
    return frozenset(item.strip() for item in text.split(",") if item.strip())


@dataclasses.dataclass(frozen=True)
class IdentitySettings(AccessSettings):
    session_max_seconds: int = setting(
        "SIFUWU_IDENTITY_SESSION_MAX_SECONDS", 43_200,
        "令牌可续期到登录后多久（秒）；超过后须重新登录")
    token_ttl_seconds: int = setting(
        "SIFUWU_IDENTITY_TOKEN_TTL", 900, "访问令牌有效期（秒）")
    key_rotation_seconds: int = setting(
        "SIFUWU_IDENTITY_KEY_ROTATION", 86_400,
        "签名密钥轮换周期（秒）；旧公钥在其令牌全部过期前继续公布")
    key_check_interval: float = setting(
        "SIFUWU_IDENTITY_KEY_CHECK_INTERVAL", 60.0,
        "检查是否需要轮换签名密钥的间隔（秒）")
    key_secrets: str = setting(
        "SIFUWU_IDENTITY_KEY_SECRETS", "",
        "加密存储签名私钥与 TOTP 密钥的密钥，逗号分隔（第一个用于加密，全部可解密）；"
        "留空时由 SIFUWU_SECRET 派生（仅限开发）")
    max_failed_logins: int = setting(
        "SIFUWU_IDENTITY_MAX_FAILED_LOGINS", 5, "连续登录失败几次后锁定账户")
    lockout_seconds: float = setting(
        "SIFUWU_IDENTITY_LOCKOUT_SECONDS", 900.0, "账户锁定时长（秒）")
    backoff_base_seconds: float = setting(
        "SIFUWU_IDENTITY_BACKOFF_SECONDS", 1.0,
        "登录失败后的等待时间基数（秒；每次失败翻倍）")
    backoff_max_seconds: float = setting(
        "SIFUWU_IDENTITY_BACKOFF_MAX_SECONDS", 60.0, "登录失败等待时间上限（秒）")
    argon2_time_cost: int = setting(
        "SIFUWU_IDENTITY_ARGON2_TIME_COST", 3, "argon2id 迭代次数")
    argon2_memory_kib: int = setting(
        "SIFUWU_IDENTITY_ARGON2_MEMORY_KIB", 65_536, "argon2id 内存（KiB）")
    argon2_parallelism: int = setting(
        "SIFUWU_IDENTITY_ARGON2_PARALLELISM", 4, "argon2id 并行度")
    bootstrap: str = setting(
        "SIFUWU_IDENTITY_BOOTSTRAP", "",
        "首个工委账户 用户名:密码:TOTP密钥（Base32）；仅在尚无任何账户时创建")
    totp_issuer: str = setting(
        "SIFUWU_IDENTITY_TOTP_ISSUER", "sifuwu", "动态口令应用中显示的签发方")
    oidc_issuer: str = setting(
        "SIFUWU_IDENTITY_OIDC_ISSUER", "",
        "统一身份认证（OIDC）签发方地址，须与其 /.well-known/openid-configuration "
        "中的 issuer 完全一致；留空则不启用统一身份认证登录")
    oidc_client_id: str = setting(
        "SIFUWU_IDENTITY_OIDC_CLIENT_ID", "",
        "在统一身份认证登记的客户端标识（client_id），也是 ID 令牌的受众（aud）")
    oidc_client_secret: str = setting(
        "SIFUWU_IDENTITY_OIDC_CLIENT_SECRET", "",
        "客户端密钥（client_secret_basic）；留空则为公开客户端，仅靠 PKCE")
    oidc_redirect_uri: str = setting(
        "SIFUWU_IDENTITY_OIDC_REDIRECT_URI", "",
        "在统一身份认证登记的回调地址，指向本服务的 /api/v1/oidc/callback")
    oidc_scopes: str = setting(
        "SIFUWU_IDENTITY_OIDC_SCOPES", "openid profile",
        "申请的 scope，空格分隔（须含 openid）")
    oidc_user_claim: str = setting(
        "SIFUWU_IDENTITY_OIDC_USER_CLAIM", "sub",
        "ID 令牌中标识用户的声明（如 sub、preferred_username），"
        "其值与账户的 oidc_subject 比对")
    oidc_mfa_amr: str = setting(
        "SIFUWU_IDENTITY_OIDC_MFA_AMR", "",
        "视为多因素登录的 amr 值，逗号分隔（如 mfa,otp）；工委、运维经统一身份认证登录时，"
        "ID 令牌含其一（或 acr 见下项）即不再要求本系统的动态口令；留空则始终要求")
    oidc_mfa_acr: str = setting(
        "SIFUWU_IDENTITY_OIDC_MFA_ACR", "",
        "视为多因素登录的 acr 值，逗号分隔；留空则不据 acr 认定")
    oidc_state_ttl_seconds: int = setting(
        "SIFUWU_IDENTITY_OIDC_STATE_TTL", 300,
        "一次统一身份认证登录（state、nonce、PKCE）及其动态口令补验的有效期（秒）")
    oidc_timeout_seconds: float = setting(
        "SIFUWU_IDENTITY_OIDC_TIMEOUT", 10.0,
        "访问统一身份认证（发现文档、公钥、令牌端点）的超时（秒）")
    oidc_metadata_ttl_seconds: float = setting(
        "SIFUWU_IDENTITY_OIDC_METADATA_TTL", 3600.0,
        "缓存统一身份认证发现文档与公钥的时长（秒）；遇到未知 kid 时提前刷新公钥")

    @property
    def login_policy(self):
        return domain.LoginPolicy(
            max_failures=self.max_failed_logins,
            lockout_seconds=self.lockout_seconds,
            backoff_base=self.backoff_base_seconds,
            backoff_max=self.backoff_max_seconds)

    @property
    def oidc(self):
        """The OIDC provider's settings (``oidc.domain.OidcConfig``), or None
        while the issuer is unset."""
        if not self.oidc_issuer.strip():
            return None
        return OidcConfig(
            issuer=self.oidc_issuer.strip(),
            client_id=self.oidc_client_id,
            client_secret=self.oidc_client_secret or None,
            redirect_uri=self.oidc_redirect_uri,
            scopes=self.oidc_scopes,
            user_claim=self.oidc_user_claim or "sub",
            mfa_amr=_names(self.oidc_mfa_amr),
            mfa_acr=_names(self.oidc_mfa_acr),
            state_ttl=self.oidc_state_ttl_seconds,
            timeout=self.oidc_timeout_seconds,
            metadata_ttl=self.oidc_metadata_ttl_seconds,
            leeway=self.token_leeway)

    @property
    def key_overlap_seconds(self):
        """How long a retired key stays published: its last token's
        lifetime and the verifiers' clock leeway."""
        return self.token_ttl_seconds + self.token_leeway

    def production_problems(self):
        problems = super().production_problems()
        if not [item for item in self.key_secrets.split(",") if item.strip()]:
            problems.append("SIFUWU_IDENTITY_KEY_SECRETS 未设置：签名私钥须以单独的密钥"
                            "加密保存（生产不使用 SIFUWU_SECRET 代替）")
        config = self.oidc
        if config is not None:
            problems += config.problems(production=True)
        return problems

    def sealer(self):
        secrets = [item.strip() for item in self.key_secrets.split(",")
                   if item.strip()]
        return signing.sealer(secrets or [SEAL_FALLBACK_LABEL + self.secret])

    def password_hasher(self):
        return signing.hasher(self.argon2_time_cost, self.argon2_memory_kib,
                              self.argon2_parallelism)
