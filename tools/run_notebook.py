"""Executes notebooks in place, as the suite does, and keeps their outputs free of TensorFlow's log noise.

    python tools/run_notebook.py notebooks/03_train_and_evaluate.ipynb [more.ipynb ...]

Each notebook runs from its own folder, like `tests/test_notebooks.py` runs
it; the seconds each code cell took are printed, so that a notebook that has
grown slow shows which cell did it. Lines that TensorFlow, absl and XLA write
to stderr on import and first use (`I0000 ...`, `E0000 ... cuInit ...`, the
`tf.function retracing` warning) say nothing about the tutorial and differ
between machines; they are dropped from the saved outputs, and an output
left empty goes too. Anything else (errors included) stays.

The notebook is only written back when every cell ran.
"""

import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOISE = re.compile(
    r"^(?:[IWE]\d{4} \d\d:\d\d:\d+\.\d+ |WARNING: All log messages before absl|To enable the following instructions"
    r"|WARNING:tensorflow:.*retracing|WARNING:absl:)"
)


def clean(outputs):
    """`outputs` without TensorFlow's log lines in stream outputs, and without the streams that held only those."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            lines = [line for line in output["text"].splitlines(keepends=True) if not NOISE.match(line)]
            if not "".join(lines).strip():
                continue
            output["text"] = "".join(lines)
        kept.append(output)
    return kept


def run(path, timeout=1800):
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    started = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            cell_started = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                cell.outputs = clean(cell.outputs)
                print(f"{path.name} cell {index}: {time.perf_counter() - cell_started:.1f} s", flush=True)
    nbformat.write(notebook, path)
    print(f"{path.name}: {time.perf_counter() - started:.1f} s in all, written back", flush=True)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python tools/run_notebook.py NOTEBOOK.ipynb [...]")
    for argument in sys.argv[1:]:
        run(Path(argument).resolve())
