"""``picsellia-tf`` resource and cleanup commands against the local platform over HTTP: most
runs through ``main(argv)`` in this process, some as real subprocesses (what only a process
shows: help and imports, exit codes through the interpreter, closed or full stdout). Every run
also checks that the token appears in no output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from picsellia_tf.errors import NotFoundError
from tests.helpers.cli import CLI, cli_env, run, run_process
from tests.helpers.retries import quick_backoff_everywhere

MY_GROUPS = ("projects", "datasets", "models", "experiments", "cleanup")


def as_json(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def write_images(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        Image.new("RGB", (6 + i, 4), (i * 30, 0, 90)).save(folder / name)


# --- usage, help, environment -------------------------------------------------------------


def test_help_everywhere_and_usage_errors() -> None:
    # Every group's and command's --help, in one subprocess: exit 0, usage, a description.
    script = textwrap.dedent(
        """
        import argparse, contextlib, io, json
        from picsellia_tf.cli import build_parser, main

        def walk(parser, path):
            yield path, parser
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, sub in action.choices.items():
                        yield from walk(sub, path + [name])

        out = {}
        for path, parser in walk(build_parser(), []):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    main(path + ["--help"])
                    code = None
                except SystemExit as exc:
                    code = exc.code
            out[" ".join(path)] = [code, buf.getvalue(), parser.description or ""]
        print(json.dumps(out))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(None)
    )
    assert proc.returncode == 0, proc.stderr
    helps = json.loads(proc.stdout)
    mine = [c for c in helps if c.split(" ")[0] in MY_GROUPS]
    assert {
        "projects create",
        "datasets upload",
        "experiments delete",
        "cleanup experiments",
    } <= set(mine)
    assert len(mine) == 25, mine
    for command in mine:
        code, text, description = helps[command]
        assert code == 0 and text.startswith("usage: picsellia-tf " + command), command
        assert description and "\n" not in description and description in " ".join(text.split())
    assert "Delete projects, models, datasets" in helps[""][1]  # the top-level command list

    for argv in (
        ["frobnicate"],
        ["projects"],
        ["projects", "show"],
        ["experiments", "delete", "p", "m", "not-an-int"],
        ["datasets", "upload", "."],
        ["datasets", "upload", ".", "--dataset", "a", "--name", "b"],
        ["cleanup", "projects"],
        ["cleanup", "experiments", "--model", "m", "--keep-last", "-1"],
        ["projects", "list", "--token", "x"],
    ):
        proc = run(None, *argv, code=2, env=cli_env(None, PICSELLIA_TOKEN="t0k3n-secret"))
        assert proc.stdout == "" and "usage:" in proc.stderr, argv
        assert "t0k3n-secret" not in proc.stderr


def test_missing_or_wrong_token_fails_cleanly(platform: Any) -> None:
    for argv in (["projects", "list"], ["check"], ["sync", "."]):
        env = cli_env(None, PICSELLIA_HOST=platform.host)
        proc = (run_process if argv == ["check"] else run)(None, *argv, code=1, env=env)
        assert "no API token: set PICSELLIA_TOKEN" in proc.stderr and proc.stdout == ""
        assert "`picsellia-tf serve` prints" in proc.stderr and "Client(" not in proc.stderr

    bad = "wrong-" + platform.token[::-1]
    env = cli_env(None, PICSELLIA_HOST=platform.host, PICSELLIA_TOKEN=bad)
    refused = f"{platform.host} refused the token (invalid token; 401 on GET /"
    for argv in (["models", "list", "--json"], ["check"], ["projects", "show", "x"]):
        proc = run(None, *argv, code=1, env=env)
        assert f"picsellia-tf: error: {refused}" in proc.stderr, argv  # one wording for all
        assert "check PICSELLIA_TOKEN" in proc.stderr and bad not in proc.stdout + proc.stderr


def test_errors_name_the_host_once_in_the_cli_words(
    platform: Any, unused_host: str, monkeypatch: Any
) -> None:
    # the commands still retry the unreachable host as often, only with shorter waits between
    quick_backoff_everywhere(monkeypatch)  # the CLI's own clients
    proc = run(platform, "projects", "show", "no-such-id", code=1)
    assert f"404 on GET {platform.host}/api/v1/project_infos/no-such-id:" in proc.stderr

    for argv in (["check"], ["projects", "list"]):
        proc = run(platform, *argv, "--host", unused_host, code=1)
        assert proc.stderr.count(unused_host) == 1, proc.stderr  # said once, not twice
        assert f"cannot reach {unused_host} for GET /" in proc.stderr
    proc = run(platform, "projects", "list", "--host", "ftp://x", code=1)
    assert "--host: 'ftp://x' is not an http(s) URL" in proc.stderr


def test_an_error_from_the_default_host_says_no_host_was_given(monkeypatch: Any) -> None:
    from picsellia_tf.cli import build_parser
    from picsellia_tf.cli._common import describe_error
    from picsellia_tf.client import DEFAULT_HOST
    from picsellia_tf.errors import AuthenticationError

    error = AuthenticationError(401, "GET", "/api/v1/project_list", "invalid token")
    error.host = DEFAULT_HOST
    monkeypatch.delenv("PICSELLIA_HOST", raising=False)
    text = describe_error(error, build_parser().parse_args(["projects", "list"]))
    assert text.startswith(f"{DEFAULT_HOST} refused the token (invalid token; 401 on GET")
    assert "neither --host nor PICSELLIA_HOST was given: this is the public platform" in text
    given = build_parser().parse_args(["projects", "list", "--host", DEFAULT_HOST])
    assert "neither" not in describe_error(error, given)


def test_help_imports_only_what_it_shows() -> None:
    # `picsellia-tf --help` and a command's --help import neither the HTTP stack, nor images,
    # nor the local server: only the module of the command asked for.
    script = textwrap.dedent(
        """
        import sys
        from picsellia_tf.cli import main
        try:
            main(sys.argv[1:])
        except SystemExit:
            pass
        heavy = {"requests", "urllib3", "werkzeug", "PIL", "numpy", "tensorflow", "keras"}
        loaded = sorted({m.split(".")[0] for m in sys.modules} & heavy)
        ours = sorted(m for m in sys.modules if m.startswith("picsellia_tf.cli."))
        print(",".join(loaded) + "|" + ",".join(ours), file=sys.stderr)
        """
    )
    for argv, module in (
        ([], None),
        (["experiments", "logs"], "picsellia_tf.cli.experiments"),
        (["sync"], "picsellia_tf.cli.logs"),
        (["cleanup", "projects"], "picsellia_tf.cli.cleanup"),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", script, *argv, "--help"],
            capture_output=True,
            text=True,
            env=cli_env(None),
            timeout=60,
        )
        assert proc.stdout.startswith("usage: picsellia-tf"), proc.stderr
        loaded, ours = proc.stderr.strip().splitlines()[-1].split("|")
        assert loaded == "", (argv, loaded)
        assert ours.split(",") == (["picsellia_tf.cli._common"] + ([module] if module else [])), (
            argv,
            ours,
        )


def test_cli_does_not_import_tensorflow(platform: Any) -> None:
    script = textwrap.dedent(
        """
        import sys
        from picsellia_tf.cli import main
        code = main(["projects", "list", "--json"])
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
        print("HEAVY=" + ",".join(heavy), file=sys.stderr)
        sys.exit(code)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=cli_env(platform)
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    assert "HEAVY=\n" in proc.stderr, proc.stderr


def test_io_errors_exit_1_without_traceback(platform: Any, client: Any, tmp_path: Path) -> None:
    client.projects.create("p", "detection")

    def run_to(stdout: Any, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], stdout=stdout, stderr=subprocess.PIPE, text=True, env=cli_env(platform)
        )

    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before anything is written, as after `| head`
    try:
        proc = run_to(write_end, "projects", "list")
    finally:
        os.close(write_end)
    assert (proc.returncode, proc.stderr) == (1, "")

    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            proc = run_to(full, "projects", "list", "--json")
        assert proc.returncode == 1 and "No space left" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr

    if Path("/proc/self/mem").is_file():  # a file that lists fine but cannot be read
        folder = tmp_path / "imgs"
        write_images(folder, ["a.png"])
        (folder / "b.png").symlink_to("/proc/self/mem")
        proc = run(platform, "datasets", "upload", str(folder), "--name", "d", code=1)
        assert "Input/output error" in proc.stderr and "stopped after 0/2 files" in proc.stderr


# --- projects ---------------------------------------------------------------------------


def test_projects_create_list_show_delete(platform: Any, client: Any, tmp_path: Path) -> None:
    dataset = client.datasets.create("street-images")
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "name": "streets",
                "type": "detection",
                "description": "cars and people",
                "private": False,
                "labels": [{"name": "car", "tool": "rectangle"}, ["road", "polygon"]],
                "team": [{"email": "ann@example.com", "role": "labeler"}],
                "dataset_name": dataset.name,
            }
        )
    )
    created = as_json(run_process(platform, "projects", "create", "--spec", str(spec), "--json"))
    project = client.projects.get(created["id"])
    assert (project.name, project.type, project.private) == ("streets", "detection", False)
    assert [(lb.name, lb.tool) for lb in project.labels] == [
        ("car", "rectangle"),
        ("road", "polygon"),
    ]
    assert [(c.email, c.role) for c in project.collaborators] == [("ann@example.com", "labeler")]
    assert project.dataset is not None and project.dataset.id == dataset.id

    proc = run(platform, "projects", "create", "--spec", str(spec), code=1)
    assert "409" in proc.stderr  # the name is taken

    text = run(platform, "projects", "list").stdout
    assert project.id in text and "streets" in text
    listed = as_json(run(platform, "projects", "list", "--json"))
    assert listed == [{"id": project.id, "name": "streets"}]  # project_list's fields only
    shown = run(platform, "projects", "show", project.id).stdout
    assert "car (rectangle)" in shown and "road (polygon)" in shown and "street-images" in shown
    full = as_json(run(platform, "projects", "show", project.id, "--json"))
    assert full["id"] == project.id and full["labels"][1] == {"name": "road", "tool": "polygon"}

    proc = run(platform, "projects", "show", "no-such-id", code=1)
    assert "404" in proc.stderr and "no-such-id" in proc.stderr

    assert "deleted project" in run(platform, "projects", "delete", project.id).stdout
    with pytest.raises(NotFoundError):
        client.projects.get(project.id)
    assert "404" in run(platform, "projects", "delete", project.id, code=1).stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"type": "detection"}', "field 'name'"),
        ('{"name": "x", "type": "boxes"}', "field 'type'"),
        ('{"name": "x", "type": "detection", "colour": 1}', "unknown field(s) 'colour'"),
        ('{"name": "x", "type": "detection", "labels": {"car": 1}}', "field 'labels'"),
        ('{"name": "x", "type": "detection", "labels": [["car", "box"]]}', "labels[0].tool"),
        ('{"name": "x", "type": "detection", "labels": [{"tool": "point"}]}', "labels[0].name"),
        ('{"name": "x", "type": "detection", "labels": ["car"]}', "field 'labels[0]'"),
        ('{"name": "x", "type": "detection", "labels": [["a"], ["a", "point"]]}', "duplicate"),
        ('{"name": "x", "type": "detection", "team": [["bob", "admin"]]}', "team[0].email"),
        ('{"name": "x", "type": "detection", "team": [["b@x.io", "boss"]]}', "team[0].role"),
        ('{"name": "x", "type": "detection", "private": "yes"}', "field 'private'"),
        ('{"name": "x", "type": "detection", "dataset_name": 3}', "field 'dataset_name'"),
    ],
)
def test_project_spec_validation_names_file_and_field(
    tmp_path: Path, content: str, expected: str
) -> None:
    from picsellia_tf.cli.projects import load_project_spec
    from picsellia_tf.errors import ValidationError

    path = tmp_path / "bad-spec.json"
    path.write_text(content)
    with pytest.raises(ValidationError) as info:
        load_project_spec(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_project_spec_errors_exit_1_before_any_request(
    platform: Any, client: Any, tmp_path: Path
) -> None:
    path = tmp_path / "spec.json"
    path.write_text('{"name": "x", "type": "detection", "labels": [["car", "box"]]}')
    proc = run(platform, "projects", "create", "--spec", str(path), code=1)
    assert str(path) in proc.stderr and "labels[0].tool" in proc.stderr
    proc = run(platform, "projects", "create", "--spec", str(tmp_path / "missing.json"), code=1)
    assert "missing.json" in proc.stderr and "cannot read" in proc.stderr
    assert client.projects.list() == []


# --- datasets ---------------------------------------------------------------------------


def test_datasets_upload_list_show_delete(platform: Any, client: Any, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    write_images(folder, ["a.png", "b.png", "c.png", ".hidden.png"])
    (folder / "notes.txt").write_text("not an image")
    (folder / "sub").mkdir()
    write_images(folder / "sub", ["d.png"])
    write_images(folder / ".cache", ["e.png"])  # a hidden folder is never uploaded

    proc = run(platform, "datasets", "upload", str(folder), "--name", "cars", "--pattern", "*.png")
    assert "uploaded 3 files" in proc.stdout and "uploaded 3/3" in proc.stderr
    dataset = next(d for d in client.datasets.list() if d.name == "cars")
    assert sorted(r.filename for r in client.datasets.raw_data(dataset.id, 0, 100)) == [
        "a.png",
        "b.png",
        "c.png",
    ]

    data = as_json(
        run(
            platform,
            "datasets",
            "upload",
            str(folder),
            "--dataset",
            dataset.id,
            "--recursive",
            "--json",
        )
    )
    assert data["dataset"]["id"] == dataset.id
    assert sorted(r["filename"] for r in data["uploaded"]) == [
        "a.png",
        "b.png",
        "c.png",
        "d.png",
        "notes.txt",
    ]
    assert client.datasets.get(dataset.id).size == 5  # same names replace, keeping one each

    listed = as_json(run(platform, "datasets", "list", "--json"))
    assert [(d["id"], d["name"], d["size"]) for d in listed] == [(dataset.id, "cars", 5)]
    assert "cars" in run(platform, "datasets", "list").stdout
    shown = run(platform, "datasets", "show", dataset.id).stdout
    assert "files:" in shown
    creator = client.check_connection().username
    assert f"created by:  {creator}" in shown  # dataset_info has no creator: from the list

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_text("x")
    proc = run(platform, "datasets", "upload", str(empty), "--name", "nothing", code=1)
    assert "no files" in proc.stderr and str(empty) in proc.stderr
    proc = run(
        platform, "datasets", "upload", str(folder), "--pattern", "*.jpg", "--name", "n", code=1
    )
    assert "'*.jpg'" in proc.stderr
    assert [d.name for d in client.datasets.list()] == ["cars"]  # nothing created on error
    proc = run(platform, "datasets", "upload", str(folder), "--dataset", "nope", code=1)
    assert "404" in proc.stderr
    platform.server.faults.paths = ("/api/v1/raw_data/",)
    platform.server.faults.fail_next(1, status=413)  # refused upload: the command stops
    proc = run(platform, "datasets", "upload", str(folder), "--dataset", dataset.id, code=1)
    assert "413" in proc.stderr and "stopped after 0/4 files in dataset 'cars'" in proc.stderr
    assert f"--dataset {dataset.id}" in proc.stderr
    platform.server.faults.reset()

    # A dataset used by a project cannot go (409), until the project does.
    project = client.projects.create("p", "classification", dataset_name="cars")
    assert "409" in run(platform, "datasets", "delete", dataset.id, code=1).stderr
    client.projects.delete(project.id)
    run(platform, "datasets", "delete", dataset.id)
    assert client.datasets.list() == []


# --- models and experiments -------------------------------------------------------------


def test_models_and_experiments(platform: Any, client: Any) -> None:
    project = client.projects.create("proj", "detection")
    first = client.experiments.init(project.id, "yolo")
    client.experiments.init(project.id, "yolo")
    model_id = first.network_id

    listed = as_json(run(platform, "models", "list", "--json"))
    assert [(m["id"], m["name"]) for m in listed] == [(model_id, "yolo")]
    assert "yolo" in run(platform, "models", "list").stdout
    shown = as_json(run(platform, "models", "show", model_id, "--json"))
    assert [e["training_id"] for e in shown["experiments"]] == [1, 2]
    assert "experiments:" in run(platform, "models", "show", model_id).stdout

    run(platform, "experiments", "delete", project.id, model_id, "1")
    assert [e.training_id for e in client.models.get(model_id).experiments] == [2]
    assert "404" in run(platform, "experiments", "delete", project.id, model_id, "1", code=1).stderr

    run(platform, "models", "delete", model_id, "--json")
    assert client.models.list() == []
    assert "404" in run(platform, "models", "show", model_id, code=1).stderr


def test_experiments_list_show_logs_previews(platform: Any, client: Any, tmp_path: Path) -> None:
    project = client.projects.create("curves", "classification")
    exp = client.experiments.init(project.id, "tiny")
    logs = {
        "loss": {"step": [0, 1, 2], "value": [0.9, 0.5, 0.25], "wall_time": [1.0, 2.0, 3.0]},
        "val_loss": {"step": [0, 1, 2], "value": [1.0, 0.75, 0.5]},
        "batch/loss": {"step": [4, 8], "value": [0.7, 0.4]},
    }
    client.experiments.post_logs(exp.training_id, exp.network_id, logs)
    images = {}
    for i in range(2):
        buf = io.BytesIO()
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(buf, format="PNG")
        images[f"epoch_0000_0{i}.png"] = buf.getvalue()
        name = client.experiments.upload_preview(
            exp.training_id, exp.network_id, buf.getvalue(), name=f"epoch_0000_0{i}.png"
        )
        client.experiments.post_preview(exp.training_id, exp.network_id, [name])
    client.experiments.init(project.id, "tiny")  # a second, empty version

    rows = as_json(run(platform, "experiments", "list", "--json"))
    assert [(r["model_name"], r["training_id"], r["project_id"]) for r in rows] == [
        ("tiny", 1, project.id),
        ("tiny", 2, project.id),
    ]
    text = run(platform, "experiments", "list").stdout
    assert text.splitlines()[0].split() == ["MODEL", "NAME", "VERSION", "PROJECT", "CREATED"]
    csv_rows = run(platform, "experiments", "list", "--model", "tiny", "--csv").stdout
    assert csv_rows.splitlines()[0] == "model_id,model_name,training_id,project_id,created"
    assert len(csv_rows.splitlines()) == 3

    shown = run(platform, "experiments", "show", "tiny", "1").stdout
    assert "version:  1" in shown and "previews: 2" in shown
    assert any(line.split()[:4] == ["loss", "3", "2", "0.25"] for line in shown.splitlines())

    table = run(platform, "experiments", "logs", "tiny", "1").stdout.splitlines()
    assert table[0].split() == ["STEP", "batch/loss", "loss", "val_loss"]
    assert table[1].split() == ["0", "0.9", "1"] and table[-1].split() == ["8", "0.4"]
    got = as_json(run(platform, "experiments", "logs", exp.network_id, "1", "--json"))
    assert got == client.experiments.get_logs(exp.training_id, exp.network_id)
    out = run(platform, "experiments", "logs", "tiny", "1", "--tags", "loss", "--csv").stdout
    assert out.splitlines() == [
        "tag,step,value,wall_time",
        "loss,0,0.9,1.0",
        "loss,1,0.5,2.0",
        "loss,2,0.25,3.0",
    ]
    assert (
        "no series in 'tiny' version 2" in run(platform, "experiments", "logs", "tiny", "2").stdout
    )

    folder = tmp_path / "previews"
    out = run(platform, "experiments", "previews", "tiny", "1", "--download", str(folder)).stdout
    assert f"2 saved in {folder}" in out and "/results/epoch_0000_00.png" in out
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == images

    proc = run(platform, "experiments", "logs", "tiny", "9", code=1)
    assert "TRAINING_ID: model 'tiny' has no version 9 (versions: 1, 2)" in proc.stderr
    proc = run(platform, "experiments", "show", "tinny", "1", code=1)
    assert "MODEL: no model has the id or name 'tinny' (models: tiny)" in proc.stderr
    proc = run(platform, "experiments", "logs", "tiny", "1", "--tags", "acc", code=1)
    assert "--tags: no series acc (tags: batch/loss, loss, val_loss)" in proc.stderr
    proc = run(platform, "experiments", "logs", "tiny", "1", "--csv", "--json", code=1)
    assert "--csv and --json" in proc.stderr


def test_experiments_on_a_platform_without_the_local_routes(
    tmp_path: Path, monkeypatch: Any, capsys: Any
) -> None:
    # The real platform's model_infos lists no versions and it has no get_logs/get_previews:
    # the commands say so instead of "no such version" or a bare 404.
    from picsellia_tf.cli import main
    from tests.helpers.strict_platform import StrictPlatform

    with StrictPlatform(tmp_path / "platform") as strict:
        project = strict.local.client.projects.create("p", "classification")
        strict.local.client.experiments.init(project.id, "tiny")
        monkeypatch.setenv("PICSELLIA_TOKEN", strict.token)
        monkeypatch.setenv("PICSELLIA_HOST", strict.url)
        assert main(["experiments", "list"]) == 0
        out = capsys.readouterr().out
        assert "no experiment versions listed (the platform's model_infos may not list them)" in out
        for command in ("logs", "previews", "show"):
            assert main(["experiments", command, "tiny", "1"]) == 1
            err = capsys.readouterr().err
            assert f"{strict.url} answered 404 to GET /sdk/get_" in err, err
            assert "is a local-platform extension" in err and "no version" not in err


def test_local_read_routes_take_query_parameters(platform: Any, client: Any) -> None:
    import requests

    project = client.projects.create("curl", "classification")
    exp = client.experiments.init(project.id, "m")
    client.experiments.post_logs(
        exp.training_id, exp.network_id, {"loss": {"step": [0], "value": [1.5]}}
    )
    auth = {"Authorization": f"Bearer {platform.token}"}
    query = {"training_id": str(exp.training_id), "network_id": exp.network_id}
    answer = requests.get(f"{platform.host}/sdk/get_logs", params=query, headers=auth, timeout=10)
    assert answer.status_code == 200 and answer.json()["logs"]["loss"]["value"] == [1.5]
    answer = requests.get(
        f"{platform.host}/sdk/get_previews", params=query, headers=auth, timeout=10
    )
    assert answer.status_code == 200
    bad = {**query, "training_id": "one"}
    answer = requests.get(f"{platform.host}/sdk/get_logs", params=bad, headers=auth, timeout=10)
    assert answer.status_code == 400 and "query parameter 'training_id'" in answer.json()["error"]


# --- cleanup -----------------------------------------------------------------------------


def test_cleanup_projects_dry_run_prompt_and_yes(platform: Any, client: Any) -> None:
    for name in ("tmp-a", "tmp-b", "keep"):
        client.projects.create(name, "classification")
    names = lambda: sorted(p.name for p in client.projects.list())  # noqa: E731

    proc = run(platform, "cleanup", "projects", "tmp-*", "--dry-run")
    assert "would delete 2 projects" in proc.stdout and "'tmp-a'" in proc.stdout
    # A dry run lists whatever the patterns select, even everything; it refuses nothing.
    proc = run(platform, "cleanup", "projects", "*", "nope-*", "--dry-run")
    assert "would delete 3 projects" in proc.stdout and "(dry run: nothing deleted)" in proc.stdout
    assert "warning: no project matches 'nope-*' (3 projects in total)" in proc.stderr
    proc = run(platform, "cleanup", "projects", "*", "--yes", code=1)
    assert "pass --all to really delete them all" in proc.stderr and "allow_all" not in proc.stderr
    plan = as_json(run(platform, "cleanup", "projects", "tmp-*", "--dry-run", "--json"))
    assert plan["dry_run"] is True and sorted(t["name"] for t in plan["plan"]) == ["tmp-a", "tmp-b"]
    assert names() == ["keep", "tmp-a", "tmp-b"]

    for answer in ("n\n", "", "maybe\n"):  # no, EOF, anything else: nothing deleted
        proc = run(platform, "cleanup", "projects", "tmp-*", input=answer, code=1)
        assert "Delete 2 projects? [y/N]" in proc.stderr and "aborted" in proc.stderr
    assert names() == ["keep", "tmp-a", "tmp-b"]

    proc = run(platform, "cleanup", "projects", "tmp-*", "--json", input="n\n", code=1)
    assert "about to delete:\n  project 'tmp-a'" in proc.stderr and proc.stdout == ""

    proc = run(platform, "cleanup", "projects", "tmp-a", input="y\n")
    assert "Delete 1 project? [y/N]" in proc.stderr and "deleted: project 'tmp-a'" in proc.stdout
    assert "about to delete:\n  project 'tmp-a'" in proc.stderr
    assert names() == ["keep", "tmp-b"]

    out = as_json(run(platform, "cleanup", "projects", "tmp-*", "--yes", "--json"))
    assert [t["name"] for t in out["deleted"]] == ["tmp-b"] and out["failed"] == []
    assert names() == ["keep"]


def test_cleanup_refuses_nothing_and_everything(platform: Any, client: Any) -> None:
    a = client.projects.create("alpha", "classification")
    client.projects.create("beta", "classification")

    proc = run(platform, "cleanup", "projects", "gamma*", "--yes", code=1)
    assert "no project matches 'gamma*'" in proc.stderr
    proc = run(platform, "cleanup", "projects", "alpha", "nope", "--yes", code=1)
    assert "'nope'" in proc.stderr  # one empty pattern refuses the whole command
    proc = run(platform, "cleanup", "projects", "*", "--yes", code=1)
    assert "every project" in proc.stderr and "--all" in proc.stderr
    proc = run(platform, "cleanup", "projects", "a*", "b*", "--yes", code=1)
    assert "every project" in proc.stderr
    assert len(client.projects.list()) == 2

    # An exact id is never "everything by accident", even for the last object.
    run(platform, "cleanup", "projects", a.id, "--yes")
    proc = run(platform, "cleanup", "models", "*", "--yes", code=1)
    assert "no model matches" in proc.stderr
    run(platform, "cleanup", "projects", "*", "--all", "--yes")
    assert client.projects.list() == []


def test_cleanup_datasets_after_their_projects(platform: Any, client: Any, tmp_path: Path) -> None:
    for name in ("ds-1", "ds-2"):
        client.datasets.create(name)
    client.datasets.create("other")
    user = client.projects.create("uses-ds-1", "detection", dataset_name="ds-1")

    proc = run(platform, "cleanup", "datasets", "ds-*", "--yes", code=1)
    assert f"used by project(s) 'uses-ds-1' ({user.id})" in proc.stderr  # a warning first
    assert "1 of 2 deletions failed" in proc.stderr
    assert "failed: dataset 'ds-1'" in proc.stdout and "409" in proc.stdout
    assert "deleted: dataset 'ds-2'" in proc.stdout
    assert sorted(d.name for d in client.datasets.list()) == ["ds-1", "other"]
    failed = as_json(run(platform, "cleanup", "datasets", "ds-1", "--yes", "--json", code=1))
    assert [f["target"]["name"] for f in failed["failed"]] == ["ds-1"]
    assert "409" in failed["failed"][0]["error"] and failed["deleted"] == []

    run(platform, "cleanup", "projects", "uses-*", "--yes", "--all")
    run(platform, "cleanup", "datasets", "ds-*", "--yes")
    assert [d.name for d in client.datasets.list()] == ["other"]


def test_cleanup_models_and_experiments(platform: Any, client: Any) -> None:
    p1 = client.projects.create("p1", "detection")
    p2 = client.projects.create("p2", "detection")
    for pid in (p1.id, p1.id, p2.id, p1.id):  # versions 1, 2 (p1), 3 (p2), 4 (p1)
        net = client.experiments.init(pid, "resnet").network_id
    other = client.experiments.init(p1.id, "unet").network_id
    versions = lambda m: [e.training_id for e in client.models.get(m).experiments]  # noqa: E731

    older_in_p1 = ("cleanup", "experiments", "--model", "resnet", "--project", "p1")
    plan = as_json(run(platform, *older_in_p1, "--keep-last", "1", "--dry-run", "--json"))
    assert [t["training_id"] for t in plan["plan"]] == [1, 2]
    assert versions(net) == [1, 2, 3, 4]

    proc = run(platform, *older_in_p1, "--keep-last", "1", "--yes")
    assert "Delete" not in proc.stderr and proc.stdout.count("deleted: experiment") == 2
    assert versions(net) == [3, 4] and versions(other) == [1]

    proc = run(platform, "cleanup", "experiments", "--model", net, "--keep-last", "5", "--yes")
    assert "nothing to delete" in proc.stdout
    proc = run(
        platform, "cleanup", "experiments", "--model", "res*", "--project", "p9*", "--yes", code=1
    )
    assert "'p9*'" in proc.stderr
    proc = run(platform, "cleanup", "experiments", "--model", "*", "--yes", code=1)
    assert "every model" in proc.stderr

    run(platform, "cleanup", "models", "res*", "--yes")
    assert [m.name for m in client.models.list()] == ["unet"]
    assert (
        "Delete 1 model?" in run(platform, "cleanup", "models", other, input="no\n", code=1).stderr
    )
    assert [m.name for m in client.models.list()] == ["unet"]
