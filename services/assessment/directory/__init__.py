"""The copy of the directory (member → branch → unit) the assessment keeps
from ``directory.changed``, shared by every part of it."""
