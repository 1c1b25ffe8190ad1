"""Reporting layer: files and figures built from results (owns all I/O)."""
