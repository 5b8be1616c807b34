"""User config files through the real CLI: syntax errors, wrong types, unknown keys → exit 2 with file:line."""

import pytest

TIER = "tiers:\n  small:\n    cpus: 1\n    memory: 1GB\n    threads: 4\n    background_workers: 2\n"


@pytest.mark.parametrize("body,needle,line", [
    ("tiers:\n  small: [\n", "YAML syntax error", 3),
    (TIER + "    workers: lots\n", "field 'tiers.small.workers'", 7),
    (TIER + "    worker_conections: 3\n", "unknown key", 7),
])
def test_bad_user_config_is_one_line_exit_2(hmb, tmp_path, body, needle, line):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(body)
    proc = hmb(["--config", str(cfg), "tune", "tiers"])
    assert proc.returncode == 2
    lines = [text for text in proc.stderr.splitlines() if text.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"{cfg}:{line}" in lines[0] and needle in lines[0]


def test_good_user_tier_is_listed(hmb, tmp_path):
    cfg = tmp_path / "mine.yaml"
    cfg.write_text(TIER.replace("small", "edge") + "    workers: 3\n")
    proc = hmb(["--config", str(cfg), "--json", "tune", "tiers"])
    assert proc.returncode == 0, proc.stderr
    assert '"edge"' in proc.stdout and '"small"' in proc.stdout
