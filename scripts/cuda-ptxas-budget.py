#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compiles the CUDA kernels with `nvcc -Xptxas -v` for each architecture and checks every
kernel's register count, spill bytes and stack frame against a budget.  Prints TAP: one line
per (kernel, architecture); exits 1 when a kernel is over budget or nvcc fails.

usage: cuda-ptxas-budget.py NVCC SOURCE [SOURCE ...] [-I DIR ...] [--arch sm_80 --arch sm_90]

Budget (per thread): registers at most REGISTERS[prefix] (the first prefix the kernel's name
starts with, else DEFAULT_REGISTERS); no spill stores or loads and no stack frame, for any
kernel.  A kernel over budget loses occupancy (attention runs 128 threads a block: more than
128 registers halves the blocks per SM) or spills to local memory.
"""
import re
import subprocess
import sys
import tempfile

REGISTERS = [
    ("k_attention", 128),
    ("k_conv1d_k3", 64),
    ("k_topk", 48),
    ("k_log_mel", 64),  # 8 frames' real and imaginary sums per thread
    # cross-attention of a group of rows: each lane's running outputs of 8 dimensions for up
    # to 8 rows (64 registers) besides the scores
    ("k_step_cross_attn", 128),
    ("k_cross_attn_q8", 128),
    ("k_step_", 64),  # the table-driven decoder step: 128-thread blocks
]
DEFAULT_REGISTERS = 40


def demangle_name(mangled):
    # _Z11k_attentionILi64E... -> k_attention: length-prefixed first identifier
    m = re.match(r"_Z(\d+)", mangled)
    if not m:
        return mangled
    n = int(m.group(1))
    start = m.end()
    return mangled[start:start + n]


def budget_for(name):
    for prefix, regs in REGISTERS:
        if name.startswith(prefix):
            return regs
    return DEFAULT_REGISTERS


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    nvcc, sources = argv[1], [argv[2]]
    includes, archs = [], []
    rest = argv[3:]
    i = 0
    while i < len(rest):
        if rest[i] == "-I":
            includes += ["-I", rest[i + 1]]
            i += 2
        elif rest[i].startswith("-I"):
            includes.append(rest[i])
            i += 1
        elif rest[i] == "--arch":
            archs.append(rest[i + 1])
            i += 2
        elif not rest[i].startswith("-"):
            sources.append(rest[i])
            i += 1
        else:
            print("unknown argument " + rest[i], file=sys.stderr)
            return 2
    archs = archs or ["sm_80", "sm_90"]
    n = 0
    failed = 0
    for arch, source in [(a, s) for s in sources for a in archs]:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [nvcc, "-std=c++17", "-O3", "-cubin", "-arch=" + arch, "-Xptxas", "-v",
                   *includes, source, "-o", tmp + "/k.cubin"]
            p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            n += 1
            failed += 1
            print(f"not ok {n} - nvcc for {arch} failed on {source}")
            for line in p.stderr.splitlines()[-20:]:
                print("# " + line)
            continue
        current = None
        props = {}
        for line in p.stderr.splitlines():
            m = re.search(r"Compiling entry function '([^']+)' for '(sm_\d+)'", line)
            if m:
                current = m.group(1)
                props[current] = {"stack": 0, "spill_st": 0, "spill_ld": 0, "regs": None}
                continue
            if current is None:
                continue
            m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
            if m:
                props[current].update(stack=int(m.group(1)), spill_st=int(m.group(2)),
                                      spill_ld=int(m.group(3)))
            m = re.search(r"Used (\d+) registers", line)
            if m:
                props[current]["regs"] = int(m.group(1))
        if not props:
            n += 1
            failed += 1
            print(f"not ok {n} - no kernel figures in the ptxas output for {arch}")
            continue
        for mangled, f in sorted(props.items()):
            n += 1
            name = demangle_name(mangled)
            limit = budget_for(name)
            ok = (f["regs"] is not None and f["regs"] <= limit and f["spill_st"] == 0 and
                  f["spill_ld"] == 0 and f["stack"] == 0)
            failed += not ok
            print(f"{'ok' if ok else 'not ok'} {n} - {arch} {mangled}: {f['regs']} registers "
                  f"(budget {limit}), {f['spill_st']}/{f['spill_ld']} bytes spilled, "
                  f"{f['stack']} bytes stack")
    print(f"1..{n}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
