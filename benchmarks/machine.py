"""The machine a benchmark ran on, as its figures should name it.

CPUs of one cloud "kind" differ (an AMD EPYC with AVX512 in one session, an
Intel Xeon with AMX in the next), and oneDNN, XNNPACK and PyTorch pick their
kernels by the instruction sets they find, so every printed figure carries
the CPU's model, family/model numbers, the vector extensions that matter here
and the cores this process may use.
"""

import os
import platform
import time

# Instruction sets that change which kernels oneDNN, XNNPACK and PyTorch run, in the order printed.
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def cpu_info(path="/proc/cpuinfo"):
    """`(model name, "family F model M", [flags of FLAGS present])` of the first CPU in `path`; the platform's name elsewhere."""
    fields = {}
    try:
        with open(path) as file:
            for line in file:
                if not line.strip():
                    break  # the first processor's block ends here
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    name = fields.get("model name") or platform.processor() or platform.machine()
    numbers = f"family {fields['cpu family']} model {fields['model']}" if "cpu family" in fields and "model" in fields else ""
    flags = set(fields.get("flags", "").split())
    return name, numbers, [flag for flag in FLAGS if flag in flags]


def cores():
    """The CPUs this process may run on (a container's share, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count()


def describe():
    """One line for a benchmark's header, e.g. `Intel(R) Xeon(R) Processor (family 6 model 143; avx2 avx512f amx_bf16), 2 cores, 2026-12-05 21:04`."""
    name, numbers, flags = cpu_info()
    details = "; ".join(part for part in (numbers, " ".join(flags)) if part)
    return f"{name}{f' ({details})' if details else ''}, {cores()} cores, {time.strftime('%Y-%m-%d %H:%M')}"
