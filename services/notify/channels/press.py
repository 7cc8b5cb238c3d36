"""A DOCX manuscript for the newspaper and magazine desk (报刊)."""

import re
from pathlib import Path

from services.notify.channels.base import Channel, Outcome


class PressDesk(Channel):
    """A DOCX manuscript (稿件) for the newspaper and magazine desk, written
    to ``folder`` (python-docx)."""

    name = "press"

    def __init__(self, folder, provider="press-desk"):
        self.folder = Path(folder)
        self.provider = provider

    def path_for(self, message):
        safe = re.sub(r"[^\w.-]+", "_", message["_id"])[:120]
        return self.folder / f"{message['template']}-{safe}.docx"

    def send(self, delivery):
        try:
            from docx import Document
            from docx.shared import Pt
        except ImportError as exc:
            return Outcome.technical(self.provider, f"python-docx: {exc}")
        message = delivery.message
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            document = Document()
            document.core_properties.title = message.get("subject") or ""
            document.core_properties.identifier = message["_id"]
            document.add_heading(message.get("subject") or "四服务", level=1)
            for line in message["body"].splitlines():
                if line.strip():
                    paragraph = document.add_paragraph(line.strip())
                    for run in paragraph.runs:
                        run.font.size = Pt(12)
            document.add_paragraph(
                f"稿件编号：{message['_id']}  模板：{message['template']} "
                f"v{message.get('template_version', 1)}")
            path = self.path_for(message)
            partial = path.with_suffix(".part")
            document.save(str(partial))
            partial.replace(path)  # the desk never sees half a file
        except OSError as exc:
            return Outcome.temporary(self.provider,
                                     f"{type(exc).__name__}: {exc}"[:300])
        return Outcome.delivered(self.provider, path.name)
