"""Two bench entry points: the scale model fed by this bench's own send paths, and `python -m bench.wave`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from bench import run, wave


def test_the_wave_s_scale_model_takes_each_channel_s_send_path_from_the_bench_report(tmp_path: Path) -> None:
    wave_json = tmp_path / "bench_wave.json"
    wave_json.write_text(json.dumps({"per_million": {"lambda_cpu_seconds": {"SenderFunction": 140.0},
                                                     "dynamodb_rru": 80_000, "dynamodb_wru": 16_000}}))  # fmt: skip
    bench_json = tmp_path / "bench.json"
    rows = [
        {"channel": c, "cpu_us_per_message": us} for c, us in (("android", 100), ("ios", 400), ("web", 250))
    ]
    bench_json.write_text(json.dumps({"throughput": rows}))
    figures = run.scale_figures(wave_json, bench_json)
    assert figures.channel_source == "bench.json (make bench)"
    assert figures.channel_cpu_delta == {"fcm": 0.0, "apns": 300e-6, "webpush": 150e-6}


def test_python_m_bench_wave_defines_every_function_before_it_runs_main() -> None:
    tree = ast.parse(Path(wave.__file__).read_text())
    last = tree.body[-1]
    assert isinstance(last, ast.If) and ast.unparse(last.test) == "__name__ == '__main__'"
    assert not any(
        isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) for node in tree.body[:-1]
    )
