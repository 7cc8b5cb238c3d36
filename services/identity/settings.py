"""The identity service's settings (身份服务配置): token lifetime, key
rotation, login backoff and lock-out, password hashing costs, the sealing
secrets and the first 工委 account. Read like every setting (nameko's config,
then the environment, then the default written here once). The token
issuer, audience and leeway are shared with every verifier
(``sifuwu.access.AccessSettings``)."""

import dataclasses

from sifuwu.access import AccessSettings
from sifuwu.settings import setting
from services.identity import domain, signing

SEAL_FALLBACK_LABEL = "identity-seal:"


@dataclasses.dataclass(frozen=True)
class IdentitySettings(AccessSettings):
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

    @property
    def login_policy(self):
        return domain.LoginPolicy(
            max_failures=self.max_failed_logins,
            lockout_seconds=self.lockout_seconds,
            backoff_base=self.backoff_base_seconds,
            backoff_max=self.backoff_max_seconds)

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
        return problems

    def sealer(self):
        secrets = [item.strip() for item in self.key_secrets.split(",")
                   if item.strip()]
        return signing.sealer(secrets or [SEAL_FALLBACK_LABEL + self.secret])

    def password_hasher(self):
        return signing.hasher(self.argon2_time_cost, self.argon2_memory_kib,
                              self.argon2_parallelism)
