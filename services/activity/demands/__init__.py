"""Demands (诉求): received, answered and resolved within deadlines counted
in working days, escalated level by level (督办) when a deadline passes."""
