"""Mininet and IPMininet: a scenario exported as a file those tools run, and Mininet's CLI
attached to a running lab."""
