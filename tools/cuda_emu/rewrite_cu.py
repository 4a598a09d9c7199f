#!/usr/bin/env python3
"""Turns a .cu file into C++ for the CUDA emulator (tools/cuda_emu/include/cuda_emu.hpp).

    rewrite_cu.py IN.cu OUT.cpp

Every launch `Kernel<<<grid, block[, shmem[, stream]]>>>(args)` becomes
`::cuda_emu::Launch({grid, block...}, "Kernel", COOP, Kernel, args)`, on the same line, so the
line numbers of the output are those of the .cu file (a #line directive names it). COOP is true
for kernels that can reach __syncthreads or a warp intrinsic, directly or through __device__
functions of the same file or of the project headers it includes; those run their blocks as
fibers. Nothing else changes.
"""
import os
import re
import sys

SYNC_PRIMITIVES = re.compile(r"\b(__syncthreads\w*|__syncwarp|__shfl\w*|__ballot\w*|__any_sync|"
                             r"__all_sync|__activemask)\b")
FUNC_HEAD = re.compile(r"\b(__global__|__device__)\b[^;{}()]*?\b([A-Za-z_]\w*)\s*\(")
LAUNCH = re.compile(r"\b([A-Za-z_][\w:]*)\s*<<<")


def strip_comments(src):
    """The source with comments and string contents blanked (same length, same lines)."""
    out, i, n = [], 0, len(src)
    while i < n:
        if src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src[i] in "\"'":
            q, j = src[i], i + 1
            while j < n and src[j] != q:
                j += 2 if src[j] == "\\" else 1
            out.append(q + " " * (j - i - 1) + q)
            i = j + 1
        else:
            out.append(src[i])
            i += 1
    return "".join(out)


def match_close(text, i, open_ch, close_ch):
    """Index just past the bracket that closes text[i] (== open_ch)."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == open_ch:
            depth += 1
        elif text[j] == close_ch:
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError(f"unbalanced {open_ch} at offset {i}")


def device_functions(code):
    """{name: body text} for the __global__ / __device__ functions defined in code."""
    funcs = {}
    for m in FUNC_HEAD.finditer(code):
        name = m.group(2)
        params_end = match_close(code, m.end() - 1, "(", ")")
        k = params_end
        while k < len(code) and code[k] not in "{;":
            k += 1
        if k >= len(code) or code[k] == ";":
            continue  # a declaration
        body_end = match_close(code, k, "{", "}")
        funcs[name] = funcs.get(name, "") + code[k:body_end]
    return funcs


def cooperative_set(code):
    funcs = device_functions(code)
    coop = {name for name, body in funcs.items() if SYNC_PRIMITIVES.search(body)}
    changed = True
    while changed:
        changed = False
        for name, body in funcs.items():
            if name in coop:
                continue
            if any(re.search(rf"\b{re.escape(c)}\s*\(", body) for c in coop):
                coop.add(name)
                changed = True
    return coop


INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def included_code(src, path):
    """The comment-stripped text of the project headers src includes (found below the nearest
    csrc/ folder above path, as the build's include path has it), for their __device__
    functions."""
    parts = os.path.abspath(path).split(os.sep)
    if "csrc" not in parts:
        return ""
    root = os.sep.join(parts[:len(parts) - parts[::-1].index("csrc")])
    out = []
    for name in INCLUDE.findall(src):
        header = os.path.join(root, name)
        if os.path.isfile(header):
            with open(header) as f:
                out.append(strip_comments(f.read()))
    return "\n".join(out)


def rewrite(src, path):
    code = strip_comments(src)
    coop = cooperative_set(included_code(src, path) + "\n" + code)
    pieces, last = [], 0
    launches = []
    for m in LAUNCH.finditer(code):
        name = m.group(1)
        cfg_start = m.end()
        cfg_end = code.find(">>>", cfg_start)
        if cfg_end < 0:
            raise ValueError(f"{path}: unterminated <<< for {name}")
        config = src[cfg_start:cfg_end]
        k = cfg_end + 3
        while code[k].isspace():
            k += 1
        if code[k] != "(":
            raise ValueError(f"{path}: launch of {name} without an argument list")
        j = k + 1
        while code[j].isspace():
            j += 1
        empty = code[j] == ")"
        short = name.split("::")[-1]
        is_coop = short in coop
        launches.append((short, is_coop))
        replacement = (f'::cuda_emu::Launch({{{config}}}, "{short}", '
                       f'{"true" if is_coop else "false"}, {name}{"" if empty else ", "}')
        # Keep the newlines of the config so later lines keep their numbers.
        replacement += "\n" * src[m.start():k + 1].count("\n")
        pieces.append(src[last:m.start()])
        pieces.append(replacement)
        last = k + 1
    pieces.append(src[last:])
    header = f'#line 1 "{path}"\n'
    return header + "".join(pieces), launches, coop


def main():
    src_path, out_path = sys.argv[1], sys.argv[2]
    with open(src_path) as f:
        src = f.read()
    out, launches, coop = rewrite(src, src_path)
    with open(out_path, "w") as f:
        f.write(out)
    if "-v" in sys.argv:
        for name, is_coop in launches:
            print(f"{src_path}: {name} {'fibers' if is_coop else 'direct'}")


if __name__ == "__main__":
    main()
