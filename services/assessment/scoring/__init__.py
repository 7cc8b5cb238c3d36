"""Scoring (计分): schemes, contributions and the monthly scorecards kept
from the other services' events."""
