"""Exercises: the catalog of exercise folders (task, break, checks, hints, reference fix), the
runner that starts, breaks, checks and solves them on a real lab, and grades and reports."""
