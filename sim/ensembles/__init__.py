"""Ensembles: uncertainty sampling and batch scenario runs."""
