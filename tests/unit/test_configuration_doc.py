"""docs/configuration.md lists every setting each service reads, as declared."""

from pathlib import Path

from tooling import configdoc

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_configuration_doc_is_current():
    assert DOC.read_text(encoding="utf-8") == configdoc.render(), \
        "run: python -m tooling.configdoc > docs/configuration.md"


def test_every_service_declares_its_settings_class():
    assert set(configdoc.service_settings()) == {
        "activity", "assessment", "feedback", "notify", "identity",
        "console"}
