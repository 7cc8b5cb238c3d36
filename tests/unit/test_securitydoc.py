"""docs/security.md is what the policy table generates, and its table says
what the policy says."""

from tooling import securitydoc
from tooling.stack import ROOT


def test_the_committed_page_is_current():
    committed = (ROOT / "docs" / "security.md").read_text(
        encoding="utf-8")
    assert committed == securitydoc.render(), \
        "docs/security.md is stale: python -m tooling.securitydoc > docs/security.md"


def test_rows_show_scope_by_role():
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in securitydoc.render().splitlines()
            if line.startswith("| `")}
    # anonymous, 工委, 单位党务干部, 支部书记, 督查, 运维, 审计
    assert rows["`POST /api/v1/activities`"] == [
        "—", "全市", "本单位", "本支部", "—", "—", "—"]
    assert rows["`POST /api/v1/events`"][0] == "系统密钥"
    assert rows["`GET /f/<token>`"][0] == "公开"
    assert rows["`GET /api/v1/messages`"][5] == "—"  # 运维: no personal data
