"""`tune --merge` runs the user's Gunicorn config and imports their app to check them: it must leave
no `__pycache__` behind in the user's folders (isolated Python ignores PYTHONDONTWRITEBYTECODE)."""

from __future__ import annotations

APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"


def test_merge_leaves_no_bytecode_in_the_users_folders(hmb, tmp_path):
    (tmp_path / "myapp.py").write_text(APP)
    (tmp_path / "myhooks.py").write_text("def post_fork(server, worker):\n    pass\n")
    (tmp_path / "gunicorn.conf.py").write_text("import myhooks\nworkers = 3\npost_fork = myhooks.post_fork\n")
    (tmp_path / "Procfile").write_text("web: gunicorn myapp:app\nworker: python worker.py\n")
    proc = hmb(["tune", "--tier", "small", "--out", str(tmp_path), "--merge", "--worker-memory", "100MB"],
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "runs your" in proc.stdout + proc.stderr  # the user's config really was run first
    assert not list(tmp_path.rglob("__pycache__")), sorted(map(str, tmp_path.rglob("*")))
