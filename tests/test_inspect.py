import json

import pytest
from cli_runner import edgevision
from model_factory import build_model


@pytest.mark.parametrize(
    ("family", "dtype", "task", "integer_only"),
    [
        ("ssd", "uint8", "detection", True),
        ("ssd", "float32", "detection", False),
        ("yolov8", "int8", "detection", True),
        ("segmentation-nchw", "uint8", "segmentation", True),
        ("classification", "float32", "classification", False),
    ],
)
def test_inspect_json_reports_family_dtypes_and_edgetpu_readiness(family, dtype, task, integer_only):
    result = edgevision("inspect", build_model(family, dtype), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["task"] == task
    assert report["inputs"][0]["dtype"] == ("float32" if dtype == "float32" else dtype)
    assert report["integer_only"] is integer_only
    assert (report["inputs"][0]["quantization"] is not None) == (dtype != "float32")


def test_inspect_reads_the_ssd_class_count_from_the_op():
    report = json.loads(edgevision("inspect", build_model("ssd", "uint8"), "--json").stdout)
    assert "TFLite_Detection_PostProcess" in report["custom_ops"]
    assert report["family"] == "SSDDecoder"


def test_inspect_text_names_labels_and_family(tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("zero\none\ntwo\nthree\nfour\n")
    result = edgevision("inspect", build_model("classification", "uint8"), "--labels", labels)
    assert result.returncode == 0, result.stderr
    assert "labels    5: zero, one, two, three, four" in result.stdout
    assert "classification" in result.stdout


def test_inspect_bad_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_text("hello")
    result = edgevision("inspect", bad)
    assert result.returncode == 2
    assert result.error_lines() == [line for line in result.error_lines() if line.startswith("edgevision: error:")]
    assert "bad.tflite" in result.stderr and "Traceback" not in result.stderr
