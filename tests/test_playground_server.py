"""The playground's HTTP API, against a running server on a free port (no browser):
the blog preset trains as fit does, exports load, and hostile requests get a 4xx."""

import http.client
import io
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest

import scratchnn as sn
from scratchnn.cli.main import build_parser, main
from scratchnn.playground import Session, make_server
from scratchnn.playground.config import check_settings
from scratchnn.playground.server import MAX_BODY, MAX_UPLOAD
from scratchnn.xor import X, Y, build_xor_net

from helpers import serving


@pytest.fixture(scope="module")
def server():
    with serving(make_server(port=0)) as server:
        yield server


def request(server, method, path, body=None, headers=None, content_type="application/json"):
    """(status, headers, body bytes) of one request, sent as written (no path normalization)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    headers = dict(headers or {})
    if body is not None:
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers.setdefault("Content-Type", content_type)
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.status, dict(response.getheaders()), response.read()
    connection.close()
    return answer


def call(server, method, path, body=None):
    status, _, data = request(server, method, path, body)
    assert status == 200, data
    return json.loads(data)


def new_session(server, settings):
    answer = call(server, "POST", "/api/session", settings)
    return answer["id"], answer["frame"]


def blog_fit(epochs):
    net = build_xor_net(0, blog=True)
    net.fit(X, Y, loss=sn.MSE(reduction="sum"), optimizer=sn.SGD(learning_rate=0.1), epochs=epochs,
            batch_size=None, shuffle=False, verbose=0)
    return net


def test_blog_preset_steps_are_fit_epochs_and_the_model_exports(server, tmp_path):
    key, frame = new_session(server, {"preset": "blog", "seed": 0})
    assert frame["epoch"] == 0 and frame["data"]["settings"]["layers"] == [2]
    for _ in range(25):
        frame = call(server, "POST", f"/api/session/{key}/command", {"action": "step"})
    assert frame["epoch"] == 25
    status, headers, body = request(server, "GET", f"/api/model.npz?session={key}")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    (tmp_path / "model.npz").write_bytes(body)
    loaded, reference = sn.load(tmp_path / "model.npz"), blog_fit(25)
    np.testing.assert_allclose(loaded.flat_parameter.value, reference.flat_parameter.value, rtol=0, atol=1e-12)
    assert frame["loss_train"] == pytest.approx(float(reference.evaluate(X, Y, sn.MSE(reduction="sum"))), abs=1e-12)


def test_code_export_runs_and_reproduces_the_weights(server, tmp_path, monkeypatch):
    settings = {"dataset": "spirals", "classes": 3, "layers": [6, 5], "act": ["relu", "tanh"], "opt": "adam",
                "lr": 0.01, "l1": 0.003, "l2": 0.001, "dropout": 0.1, "bn": True, "features": ["x1", "x2", "sin_x1"],
                "samples": 120, "batch": 16}
    key, _ = new_session(server, settings)
    for _ in range(3):
        call(server, "POST", f"/api/session/{key}/command", {"action": "step"})
    status, _, code = request(server, "GET", f"/api/code.py?session={key}")
    assert status == 200 and b"sn.Sequential(" in code and b"net.fit(" in code
    assert b"weight_decay=0.001, l1=0.003)" in code                   # L2 and L1, both in the optimizer
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code.decode(), "playground_run.py", "exec"), namespace)          # it runs, and saves
    _, _, body = request(server, "GET", f"/api/model.npz?session={key}")
    (tmp_path / "page.npz").write_bytes(body)
    page = sn.load(tmp_path / "page.npz")
    np.testing.assert_array_equal(namespace["net"].flat_parameter.value, page.flat_parameter.value)
    np.testing.assert_array_equal(sn.load(tmp_path / "playground_model.npz").flat_parameter.value,
                                  page.flat_parameter.value)


def test_data_csv_export_and_upload_round_trip(server):
    key, frame = new_session(server, {"dataset": "moons", "samples": 60, "ratio": 0.5})
    status, _, text = request(server, "GET", f"/api/data.csv?session={key}")
    lines = text.decode().splitlines()
    assert status == 200 and lines[0] == "x1,x2,split,target" and len(lines) == 61
    assert sum(line.split(",")[2] == "train" for line in lines[1:]) == 30
    table = "\n".join(f"{a},{b},{c}" for a, b, _, c in (line.split(",") for line in lines)) + "\n"
    frame = call(server, "POST", f"/api/upload?session={key}", table.encode())
    assert frame["data"]["settings"]["dataset"] == "csv" and frame["data"]["columns"] == ["x1", "x2"]
    assert frame["epoch"] == 0 and len(frame["data"]["train"]) == 30
    frame = call(server, "POST", f"/api/session/{key}/command", {"action": "step"})
    assert frame["epoch"] == 1 and frame["loss_test"] is not None


def test_play_streams_frames_and_pause_stops(server):
    key, _ = new_session(server, {"preset": "blog", "seed": 0})
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    connection.request("GET", f"/api/session/{key}/events")
    stream = connection.getresponse()
    assert stream.getheader("Content-Type") == "text/event-stream"
    call(server, "POST", f"/api/session/{key}/command", {"action": "play"})
    epochs = []
    while len(epochs) < 5:
        line = stream.fp.readline()
        if line.startswith(b"data: "):
            epochs.append(json.loads(line[6:])["epoch"])
    assert epochs == sorted(epochs) and epochs[-1] > epochs[0]
    frame = call(server, "POST", f"/api/session/{key}/command", {"action": "pause"})
    assert frame["playing"] is False
    later = call(server, "POST", f"/api/session/{key}/command", {"action": "pause"})
    assert later["epoch"] == frame["epoch"]
    frame = call(server, "POST", f"/api/session/{key}/command", {"action": "reset"})
    assert frame["epoch"] == 0
    stream.close()
    connection.close()


def test_epoch_budget_stops_training(server):
    key, _ = new_session(server, {"preset": "blog", "seed": 0, "epochs": 2})
    epochs = [call(server, "POST", f"/api/session/{key}/command", {"action": "step"})["epoch"] for _ in range(3)]
    assert epochs == [1, 2, 2]


def test_explain_and_surface_leave_the_network_as_it_was(server):
    key, _ = new_session(server, {"preset": "blog", "seed": 0})
    call(server, "POST", f"/api/session/{key}/command", {"action": "step"})
    explained = call(server, "GET", f"/api/explain?session={key}")
    assert [layer["name"] for layer in explained["layers"]][0].startswith("Dense")
    assert "δ" in explained["text"] and explained["layers"][0]["gradients"]["weight"]["shape"] == [2, 2]
    surface = call(server, "GET", f"/api/surface?session={key}&resolution=7")
    assert len(surface["values"]) == 7 and surface["origin_loss"] > 0
    frame = call(server, "POST", f"/api/session/{key}/command", {"action": "step"})
    _, _, body = request(server, "GET", f"/api/model.npz?session={key}")
    reference = blog_fit(2)
    np.testing.assert_array_equal(np.load(io.BytesIO(body))["0.weight"], reference.layers[0].weight.value)
    assert frame["epoch"] == 2


@pytest.mark.parametrize("path", [
    "/../pyproject.toml", "/static/../server.py", "/%2e%2e/%2e%2e/pyproject.toml", "/%2E%2E%2Fserver.py",
    "//etc/passwd", "/..%5cserver.py", "/\\..\\server.py", "/server.py", "/__init__.py", "/static/app.js",
    "/app.js/../server.py", "/%00", "/.%2e/config.py",
])
def test_hostile_paths_are_not_served(server, path):
    status, _, body = request(server, "GET", path)
    assert status in (400, 403, 404) and b"import" not in body and b"root:" not in body
    assert "error" in json.loads(body)


def test_own_files_are_served_with_a_content_security_policy(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and b'data-testid="epoch"' in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert request(server, "GET", "/app.js")[0] == 200


def test_sizes_past_the_limits_get_413(server):
    key, _ = new_session(server, {"preset": "blog"})
    status, _, body = request(server, "POST", "/api/session", b"{" + b" " * MAX_BODY + b"}")
    assert status == 413 and "limit" in json.loads(body)["error"]
    status, _, body = request(server, "POST", f"/api/upload?session={key}", b"1,2,3\n" * (MAX_UPLOAD // 6 + 1),
                              content_type="text/csv")
    assert status == 413
    assert request(server, "GET", "/" + "a" * 3000)[0] == 414
    with socket.create_connection(server.server_address, timeout=60) as raw:      # a huge length, no body
        raw.sendall(f"POST /api/session HTTP/1.1\r\nHost: 127.0.0.1:{server.server_address[1]}\r\n"
                    f"Content-Length: {10**12}\r\n\r\n".encode())
        assert raw.makefile("rb").readline().split()[1] == b"413"


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "malformed JSON"), (b"\xff\xfe", "malformed JSON"), (b"[1, 2]", "JSON object"),
    (b'{"layers": [4, 99]}', "layers[1]"), (b'{"lr": "fast"}', "lr must be"), (b'{"colour": 1}', "unknown setting"),
    (b'{"layers": [1, 1, 1, 1, 1, 1, 1, 1, 1]}', "layers must be"), (b'{"opt": "rmsprop", "l2": 0.1}', "weight_decay"),
    (b'{"dataset": "csv"}', "upload"), (b'{"l1": -0.1}', "l1 must be"),
])
def test_malformed_json_gets_400_with_a_message(server, body, fragment):
    status, _, answer = request(server, "POST", "/api/session", body)
    assert status == 400 and fragment in json.loads(answer)["error"]


@pytest.mark.parametrize("table, fragment", [
    (b"a,b,c\n1,2,0\n3,x,1\n", "x"), (b"1,2,0\n3,4\n", "columns"), (b"", "empty"), (b"\xff\xfe\x00", "CSV"),
    (b"1,2,0\n3,4,1\n", "4 rows"),
])
def test_malformed_csv_gets_400_with_a_message(server, table, fragment):
    key, _ = new_session(server, {"preset": "blog"})
    status, _, answer = request(server, "POST", f"/api/upload?session={key}", table, content_type="text/csv")
    assert status == 400 and fragment in json.loads(answer)["error"]
    assert call(server, "POST", f"/api/session/{key}/command", {"action": "step"})["epoch"] == 1   # still alive


def test_unknown_actions_sessions_and_foreign_hosts_are_refused(server):
    key, _ = new_session(server, {"preset": "blog"})
    status, _, body = request(server, "POST", f"/api/session/{key}/command", {"action": "explode"})
    assert status == 400 and "action must be" in json.loads(body)["error"]
    assert request(server, "GET", "/api/model.npz?session=0123456789abcdef")[0] == 404
    assert request(server, "GET", "/", headers={"Host": "evil.example:80"})[0] == 403
    assert request(server, "POST", "/api/session", {}, headers={"Origin": "http://evil.example"})[0] == 403
    assert request(server, "POST", f"/api/session/{key}/close", b"")[0] == 200
    assert request(server, "POST", f"/api/session/{key}/command", {"action": "step"})[0] == 404


def test_session_checks_settings_before_building():
    with pytest.raises(ValueError, match="classes must be"):
        check_settings({"classes": 9})
    session = Session({"dataset": "plane", "samples": 50})
    assert session.settings["problem"] == "regression" and session.frame()["grid"]["kind"] == "regression"


def test_the_command_line_has_the_playground():
    args = build_parser().parse_args(["playground", "--no-browser", "--port", "0"])
    assert (args.port, args.host, args.no_browser) == (0, "127.0.0.1", True)
    assert build_parser().parse_args(["playground"]).port == 8765


def test_a_taken_port_a_bad_port_and_an_unknown_host_are_one_line_errors(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["playground", "--no-browser", "--port", str(port)]) == 2
    assert capsys.readouterr().err == f"scratchnn: error: cannot listen on 127.0.0.1 port {port}: Address already in use\n"
    assert main(["playground", "--no-browser", "--port", "http"]) == 2
    assert "--port: expected a whole number from 0 to 65535, got 'http'" in capsys.readouterr().err
    assert main(["playground", "--no-browser", "--host", "no-such-host.invalid"]) == 2
    assert capsys.readouterr().err.startswith("scratchnn: error: cannot listen on no-such-host.invalid port 8765")


def test_ctrl_c_stops_the_command_with_a_line():
    # Ctrl-C as a terminal sends it: a test run in the background (`cmd &`) starts its children
    # with SIGINT ignored, and Python then raises no KeyboardInterrupt, so the child puts it back.
    code = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
            "from scratchnn.cli.main import main; sys.exit(main())")
    command = [sys.executable, "-c", code, "playground", "--no-browser", "--port", "0"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            first = process.stdout.readline()           # printed once the server listens
            assert first.startswith("scratchnn playground: http://127.0.0.1:") and "(Ctrl-C stops it)" in first
            url = first.split()[2]
            with urllib.request.urlopen(url, timeout=60) as response:
                assert b'data-testid="play"' in response.read()
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=60)
        finally:
            process.kill()                              # a no-op once it has ended
    assert (process.returncode, out, err) == (0, "scratchnn playground: stopped\n", "")


def test_l1_trains_as_fit_with_the_optimizers_l1():
    plain, with_l1 = Session({"samples": 60, "batch": 0}), Session({"samples": 60, "batch": 0, "l1": 0.1})
    assert with_l1.optimizer.l1 == 0.1 and plain.optimizer.l1 == 0.0
    plain.train(5)
    with_l1.train(5)
    reference = Session({"samples": 60, "batch": 0})
    reference.net.fit(reference.data["inputs_train"], reference.y_train, loss=reference.loss,
                      optimizer=sn.SGD(learning_rate=0.03, l1=0.1), epochs=5, **reference.fit_options)
    np.testing.assert_array_equal(with_l1.net.flat_parameter.value, reference.net.flat_parameter.value)
    assert not np.array_equal(with_l1.net.flat_parameter.value, plain.net.flat_parameter.value)


def test_a_page_that_goes_away_stops_its_session(server):
    """The page's event stream breaks (the tab closed without a word): the server notices at
    its next frame and forgets the session, which trains no more."""
    key, _ = new_session(server, {"preset": "blog", "seed": 0})
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    connection.request("GET", f"/api/session/{key}/events")
    stream = connection.getresponse()
    call(server, "POST", f"/api/session/{key}/command", {"action": "play"})
    while not stream.fp.readline().startswith(b"data: "):      # it plays
        pass
    session = server.sessions[key]
    stream.close()
    connection.close()
    for _ in range(6000):                                       # a hang guard, not a speed test
        if key not in server.sessions:
            break
        threading.Event().wait(0.01)
    assert key not in server.sessions and session.closed and not session.playing
    assert request(server, "POST", f"/api/session/{key}/command", {"action": "step"})[0] == 404
