"""``lab up`` with bad scenario input (root): exit code 2, one line on stderr, and nothing created."""

from factories import WEB_SERVICE, netns_of, run_lab, scenario_file, unique_lab_name


def test_cli_bad_input_exits_2_and_creates_nothing(tmp_path):
    path = scenario_file(tmp_path, "topology: TOPOLOGY\nmanifests: [svc.yml]\n",
                         {"svc.yml": WEB_SERVICE.replace("30080", "40000")})
    name = unique_lab_name("b")
    r = run_lab("up", path, "--name", name, check=False)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "svc.yml: spec.ports[0].nodePort: Invalid value: 40000: provided port is not in the valid range" in r.stderr
    assert "Traceback" not in r.stderr
    assert not netns_of(name)
    assert name not in run_lab("status").stdout
