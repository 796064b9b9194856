"""The node groups that share agents in large labs (lab.agents.groups). A lab of 20 nodes built with
them: tests/labs/test_large_lab.py."""

from lab.agents import groups as agentgroups


def test_groups_are_even_runs_of_consecutive_nodes():
    names = [f"n{i}" for i in range(20)]
    groups = agentgroups.groups(names)
    assert len(groups) == agentgroups.MAX_PROCESSES
    assert [n for _, members in groups for n in members] == names
    assert {len(members) for _, members in groups} == {2, 3}
    assert groups[0] == ("n0..n2", ["n0", "n1", "n2"])
    assert agentgroups.groups(["a", "b"]) == [("a", ["a"]), ("b", ["b"])]
    assert agentgroups.group_of(names, "n19") == groups[-1]
