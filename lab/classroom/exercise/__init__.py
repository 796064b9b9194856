"""Exercises: the catalog of exercise folders (task, break, checks, hints, reference fix), the
runner that starts, breaks, checks and solves them on a real lab, the host's loopback side (a
student's kubectl port-forward, checked; a reference fix's, started), and grades and reports."""
