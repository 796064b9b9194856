"""``lab dist --plot`` on a real run in a seed lab."""

from factories import PNG_MAGIC, lab_fixture, run_lab

lab = lab_fixture("seed.yml", "pl")


def test_dist_plot_on_a_real_run(lab, tmp_path):
    path = tmp_path / "dist.png"
    r = run_lab("dist", "client", "http://192.168.179.100:30090", "-n", "200", "--lab", lab.name,
                "--plot", str(path), check=False)
    assert r.returncode in (0, 1), r.stderr  # 1: the test rejected the split, by chance (p < 0.001)
    assert f"Plot: {path}" in r.stdout and "chi-square" in r.stdout
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 10000
