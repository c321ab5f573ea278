import os
import platform

from paramops.machine import machine, machine_line, torch_runtime, usable_cores


def test_machine_names_the_cpu_its_usable_cores_and_the_library_versions():
    info = machine(("numpy", "scikit-image", "no-such-distribution"))
    assert info["platform"] == platform.platform()
    assert f"{usable_cores()} of {os.cpu_count()} cores usable" in info["cpu"]
    assert 1 <= usable_cores() <= os.cpu_count()
    import numpy
    import skimage

    software = info["software"].split(", ")
    assert software[0] == f"Python {platform.python_version()}"
    assert software[1:] == [f"NumPy {numpy.__version__}", f"scikit-image {skimage.__version__}",
                            "no-such-distribution not installed"]


def test_machine_line_is_one_line_of_every_fact():
    info = machine()
    line = machine_line(info)
    assert "\n" not in line and all(value in line for value in info.values())


def test_torch_runtime_says_where_networks_run():
    import torch

    runtime = torch_runtime()
    if torch.cuda.is_available():
        assert runtime == torch.cuda.get_device_name(0)
    else:
        assert runtime == f"CPU, torch using {torch.get_num_threads()} threads"


def test_generated_documents_record_the_machine(tmp_path, capsys):
    from paramops.evaluation.markdown import write_generated

    path = tmp_path / "doc.md"
    write_generated(path, "Title", "python scripts/x.py", ["Images: 3."], ["| a |"])
    text = path.read_text()
    assert text.startswith("# Title\n") and "- Images: 3.\n" in text and text.endswith("| a |")
    assert f"- Machine: {machine_line()}; networks on {torch_runtime()}.\n" in text
    assert capsys.readouterr().out.strip() == str(path)
