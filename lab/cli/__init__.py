"""cli: ``lab VERB``: one module per verb, named as the user types it (``mininet-cli`` is
``mininet_cli``), each ``add_arguments(parser)`` and ``run(args) -> exit code``: parse, call,
print. main.py holds the verb index; views.py holds kubectl's columns and objects.

Edge. May import: anything in lab.
"""
