"""The sandboxed side of ``minigpt grade``: run one exercise, write its outputs as data, nothing else.

Run as ``python -I _child.py JOB_DIR`` by :mod:`minigpt.grading.sandbox`, never
imported by the student's process for anything but this. It imports only the
standard library and torch (plus ``minigpt.config`` for module exercises and
``minigpt.model`` for model exercises), and never ``minigpt.grading``: the grader's comparisons and the reference
solutions stay out of the student's reach. The job directory holds::

    job.json            what to run and the limits
    cases.json          the keyword arguments of each case, as a tree ...
    cases.safetensors   ... whose tensors live here
    deps.py             reference source of the exercise's dependencies
    work/               a copy of the student's files (the current directory)
    out/                what this process writes: ready, outputs.*, report.json

Outputs are *data only*: plain tensors (a subclass is recorded by name and
stripped), numbers, strings, containers; anything else is recorded as its
type name. The grader decides pass or fail in its own process. The helpers
``encode``/``decode``/``write_tensors``/``read_tensors`` are shared with the
parent, which imports this file as a module (no side effects on import).
"""

from __future__ import annotations

import json
import math
import os
import struct
import sys

import torch

DTYPE_CODES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16", "int64": "I64",
               "int32": "I32", "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}
MAX_DEPTH = 32


# ---------------------------------------------------------------- data on disk


def write_tensors(f, tensors: dict) -> None:
    """A minimal safetensors writer into the binary file ``f``: header length, JSON header, raw bytes."""
    header, blobs, offset = {}, [], 0
    for key, t in tensors.items():
        t = t.detach().cpu().contiguous()
        raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        code = DTYPE_CODES[str(t.dtype).removeprefix("torch.")]
        header[key] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    f.write(struct.pack("<Q", len(head)) + head)
    for raw in blobs:
        f.write(raw)


def read_tensors(path: str) -> dict:
    """Read what :func:`write_tensors` wrote (trusted input: the grader wrote it)."""
    codes = {v: getattr(torch, k) for k, v in DTYPE_CODES.items()}
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    header.pop("__metadata__", None)
    out = {}
    for key, info in header.items():
        begin, end = info["data_offsets"]
        dtype = codes[info["dtype"]]
        if end == begin:
            out[key] = torch.empty(info["shape"], dtype=dtype)
        else:
            out[key] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype).reshape(info["shape"])
    return out


def _float(x: float):
    return x if math.isfinite(x) else repr(x)  # "nan", "inf", "-inf": JSON has no such numbers


def encode(value, tensors: dict, strict: bool = False, depth: int = 0):
    """``value`` as a JSON tree; its tensors go to ``tensors`` under fresh keys.

    ``strict`` (the grader encoding cases) raises on what is not data; otherwise
    (the sandbox encoding outputs) such a value is recorded by its type name only.
    """
    kind = type(value)
    if depth > MAX_DEPTH:
        if strict:
            raise ValueError("nested too deeply")
        return {"k": "opaque", "type": "deeply nested value"}
    if value is None:
        return {"k": "none"}
    if kind is bool:
        return {"k": "bool", "v": value}
    if kind is int:
        return {"k": "int", "v": value}
    if kind is float:
        return {"k": "float", "v": _float(value)}
    if kind is str:
        return {"k": "str", "v": value[:100_000]}
    if kind in (list, tuple):
        return {"k": kind.__name__, "items": [encode(v, tensors, strict, depth + 1) for v in value]}
    if kind is dict and all(type(k) is str for k in value):
        return {"k": "dict", "items": [[k, encode(v, tensors, strict, depth + 1)] for k, v in value.items()]}
    if kind is torch.dtype:
        return {"k": "dtype", "v": str(value).removeprefix("torch.")}
    if isinstance(value, torch.Tensor):
        try:
            plain = torch.Tensor.as_subclass(value, torch.Tensor).detach().cpu()
            if str(plain.dtype).removeprefix("torch.") not in DTYPE_CODES:
                raise TypeError(f"a tensor of dtype {plain.dtype} cannot be graded")
            plain = plain.contiguous().clone()
        except Exception as exc:
            if strict:
                raise
            return {"k": "opaque", "type": f"{kind.__name__} ({type(exc).__name__}: {str(exc)[:200]})"}
        key = f"t{len(tensors)}"
        tensors[key] = plain
        node = {"k": "tensor", "key": key}
        if kind is not torch.Tensor and kind is not torch.nn.Parameter:
            node["cls"] = kind.__name__[:100]
        return node
    if strict:
        raise TypeError(f"cannot send a {kind.__name__} to the sandbox (use tensors, numbers, strings, "
                        "lists, tuples, dicts with string keys)")
    return {"k": "opaque", "type": kind.__name__[:100]}


def decode(node, tensors: dict):
    """The inverse of :func:`encode` for trusted trees (the grader's cases)."""
    k = node["k"]
    if k == "none":
        return None
    if k in ("bool", "int", "str"):
        return node["v"]
    if k == "float":
        return float(node["v"])
    if k in ("list", "tuple"):
        items = [decode(v, tensors) for v in node["items"]]
        return items if k == "list" else tuple(items)
    if k == "dict":
        return {key: decode(v, tensors) for key, v in node["items"]}
    if k == "dtype":
        return getattr(torch, node["v"])
    if k == "tensor":
        return tensors[node["key"]]
    raise ValueError(f"cannot decode a {k!r} node")


# ---------------------------------------------------------------- confinement


def set_limits(limits: dict) -> None:
    """CPU seconds, file size, no core dumps, and address space (loose until torch is in)."""
    import resource

    def lower(which, soft):
        _, hard = resource.getrlimit(which)
        soft = int(soft)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):  # not every platform takes every limit (macOS and RLIMIT_AS)
            pass

    lower(resource.RLIMIT_CPU, limits["cpu_s"])
    lower(resource.RLIMIT_FSIZE, limits["fsize_bytes"])
    lower(resource.RLIMIT_CORE, 0)
    lower(resource.RLIMIT_AS, limits["import_as_bytes"])


def tighten_memory(memory_bytes: int) -> int:
    """Address space = what this process maps now (Python + torch) + the exercise's budget.

    Returns the resident memory now, the baseline the grader adds the budget to.
    """
    import resource

    try:
        with open("/proc/self/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
    except OSError:  # no /proc (macOS): the grader cannot poll memory there either
        return 0
    vm = int(status["VmSize"].split()[0]) * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (vm + memory_bytes, hard))
    return int(status["VmRSS"].split()[0]) * 1024


class Blocker:
    """A meta-path finder that refuses the reference solutions and the grader."""

    def __init__(self, blocked: list[str]):
        self.blocked = blocked

    def find_spec(self, name, path=None, target=None):
        for b in self.blocked:
            if name == b or name.startswith(b + "."):
                raise ModuleNotFoundError(f"import of {name!r} is blocked while grading: your code must not use "
                                          "the reference solutions or the grader", name=name)
        return None


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none)."""
    import ctypes

    if not sys.platform.startswith("linux"):  # the syscall numbers below are Linux's
        return 0
    try:
        return max(0, ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))
    except Exception:
        return 0


def landlock(writable: list[str]) -> bool:
    """Best effort (Linux >= 5.13): writes only under ``writable``, no TCP, no signals to the outside.

    Returns whether the kernel accepted the rules. Reads are not restricted.
    """
    import ctypes

    if landlock_abi() < 1:
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        abi = libc.syscall(444, None, 0, 1)  # landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)
        if abi < 1:
            return False
        writes = (1 << 1) | sum(1 << i for i in range(4, 13))  # WRITE_FILE, REMOVE_*, MAKE_*
        if abi >= 2:
            writes |= 1 << 13  # REFER
        if abi >= 3:
            writes |= 1 << 14  # TRUNCATE

        class Attr(ctypes.Structure):
            _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

        class Beneath(ctypes.Structure):
            _pack_ = 1
            _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

        attr = Attr(writes, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        ruleset = libc.syscall(444, ctypes.byref(attr), size, 0)
        if ruleset < 0:
            return False
        rules = [(path, writes) for path in writable] + [("/dev/null", (1 << 1) | ((1 << 14) if abi >= 3 else 0))]
        for path, allowed in rules:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            rule = Beneath(allowed, fd)
            ok = libc.syscall(445, ruleset, 1, ctypes.byref(rule), 0)  # LANDLOCK_RULE_PATH_BENEATH
            os.close(fd)
            if ok != 0:
                os.close(ruleset)
                return False
        libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
        ok = libc.syscall(446, ruleset, 0)
        os.close(ruleset)
        return ok == 0
    except Exception:
        return False


def kill_descendants() -> None:
    """Kill what the student's code started (orphans are ours: this process is a subreaper)."""
    import signal

    me = os.getpid()
    if not os.path.isdir("/proc"):
        return
    for _ in range(3):
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat", "rb") as f:
                        stat = f.read()
                    children.setdefault(int(stat[stat.rindex(b")") + 2:].split()[1]), []).append(int(entry))
                except (OSError, ValueError, IndexError):
                    continue
        found, todo = [], list(children.get(me, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in found:
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass


# ---------------------------------------------------------------- model exercises


def call_with_model(impl, case: dict):
    """Run a ``kind="model"`` exercise on one case: a function that takes a model (and an optimizer).

    The case holds ``cfg`` (``GPTConfig`` fields) and ``state_dict``, from which a
    ``minigpt.GPT`` is built; optionally ``optimizer``, ``{"type": "SGD", "lr": 0.1, ...}``,
    an optimizer of ``torch.optim`` over the model's parameters; and ``calls``, a
    list of keyword-argument dicts. ``impl(model=..., [optimizer=...,] **call)``
    runs once per dict, in order, on the same model, with gradients enabled.
    Returns ``(returns, parameters)``: what each call returned, and the model's
    state dict after the calls (so a training step is judged by what it did).
    Shared by the sandbox and the in-process ``check`` (the grader imports this file).
    """
    from minigpt.config import GPTConfig
    from minigpt.model import GPT

    case = dict(case)
    model = GPT(GPTConfig(**case.pop("cfg")), init=False)
    model.load_state_dict(case.pop("state_dict"))
    if "optimizer" in case:
        spec = dict(case.pop("optimizer"))
        case["optimizer"] = getattr(torch.optim, spec.pop("type"))(model.parameters(), **spec)
    returns = []
    with torch.enable_grad():
        for kwargs in case.pop("calls"):
            returns.append(impl(model=model, **case, **kwargs))
    return returns, {name: t.detach().clone() for name, t in model.state_dict().items()}


# ---------------------------------------------------------------- running the exercise


class _Stop(Exception):
    pass


_MISSING = object()


def _text(obj, n: int) -> str:
    """``str(obj)``, even when the student's ``__str__`` raises."""
    try:
        return str.__str__(str(obj))[:n]
    except BaseException:  # noqa: BLE001
        return f"<a {type(obj).__name__} that cannot be printed>"


def _where(exc: BaseException, work: str) -> str:
    """``line N of file.py: the line`` for the deepest frame in the student's files."""
    import traceback

    if isinstance(exc, SyntaxError):  # its message already says where
        return ""
    try:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith("<frozen")]
        mine = [f for f in frames if os.path.abspath(f.filename).startswith(work + os.sep)]
        if mine:
            f = mine[-1]
            return f"line {f.lineno} of {os.path.basename(f.filename)}" + (f": {f.line.strip()}" if f.line else "")
        if frames:
            return f"in {os.path.basename(frames[-1].filename)}, line {frames[-1].lineno}"
    except Exception:
        pass
    return ""


def _write_json(path: str, data) -> None:
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.replace(path + ".tmp", path)


def _open_outputs(out: str) -> dict:
    """Open the result files now: once confined, the student's code may not touch ``out/``, but we may."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    return {name: os.open(os.path.join(out, name), flags, 0o600)
            for name in ("outputs.safetensors", "outputs.json", "report.json")}


def main(job_dir: str) -> None:
    job_dir = os.path.abspath(job_dir)
    with open(os.path.join(job_dir, "job.json")) as f:
        job = json.load(f)
    set_limits(job["limits"])
    out = os.path.join(job_dir, "out")
    work = os.path.join(job_dir, "work")
    sys.dont_write_bytecode = True
    sys.meta_path.insert(0, Blocker(job["blocked"]))
    for name in list(sys.modules):
        if any(name == b or name.startswith(b + ".") for b in job["blocked"]):
            del sys.modules[name]
    try:
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans stay ours to kill
    except Exception:
        pass
    import builtins
    import importlib.util

    torch.set_num_threads(job["threads"])
    with open(os.path.join(job_dir, "cases.json")) as f:
        case_trees = json.load(f)
    case_tensors = read_tensors(os.path.join(job_dir, "cases.safetensors"))
    cases = [decode(tree, case_tensors) for tree in case_trees]
    GPTConfig = None
    if job["kind"] == "module":
        from minigpt.config import GPTConfig
    with open(os.path.join(job_dir, "deps.py")) as f:
        deps = f.read()

    files = _open_outputs(out)
    rss = tighten_memory(job["limits"]["memory_bytes"])
    confined = job.get("landlock", True) and landlock_abi() > 0
    _write_json(os.path.join(out, "ready"), {"rss_bytes": rss, "landlock": confined})
    if confined and not landlock([work, os.path.join(job_dir, "tmp")]):
        raise RuntimeError("Landlock is offered but refused the rules")
    saved_builtins = dict(builtins.__dict__)
    # From here on, the student's code runs.
    report = {"event": "done"}
    outputs = []
    try:
        sys.path.insert(0, work)
        spec = importlib.util.spec_from_file_location(job["module"], os.path.join(work, job["file"]))
        module = importlib.util.module_from_spec(spec)
        sys.modules[job["module"]] = module
        report["stage"] = "import"
        spec.loader.exec_module(module)
        report["stage"] = "dependencies"
        if deps.strip():
            exec(compile(deps, "<reference dependencies>", "exec"), module.__dict__)
        report["stage"] = "lookup"
        impl = module.__dict__.get(job["name"], _MISSING)
        if impl is _MISSING:
            names = sorted(n for n, v in module.__dict__.items() if callable(v) and not n.startswith("_"))
            report.update(event="missing", names=names[:50])
            raise _Stop
        for i, kwargs in enumerate(cases):
            report["stage"], report["case"] = "call", i
            torch.manual_seed(0)
            with torch.no_grad():
                if job["kind"] == "module":
                    cfg, state_dict = GPTConfig(**kwargs.pop("cfg")), kwargs.pop("state_dict")
                    model = impl(cfg)
                    model.load_state_dict(state_dict)
                    outputs.append(model(**kwargs))
                elif job["kind"] == "model":
                    outputs.append(call_with_model(impl, kwargs))
                else:
                    if job["kind"] == "sampler" and "seed" in kwargs:  # as in minigpt.grading.check.call
                        kwargs["generator"] = torch.Generator().manual_seed(kwargs.pop("seed"))
                    outputs.append(impl(**kwargs))
    except _Stop:
        pass
    except NotImplementedError as exc:
        report.update(event="not_implemented", message=_text(exc, 1000))
    except SystemExit as exc:
        report.update(event="exit", code=_text(exc.code, 200), where=_where(exc, work))
    except BaseException as exc:  # noqa: BLE001  (anything the student's code raises is a result)
        report.update(event="exception", type=type(exc).__name__[:100], message=_text(exc, 2000),
                      where=_where(exc, work))
    builtins.__dict__.clear()  # undo what the student's code did to the builtins (``open``, ``isinstance``, ...)
    builtins.__dict__.update(saved_builtins)
    sys.path[:] = [p for p in sys.path if p != work]
    if report["event"] == "done":
        tensors: dict = {}
        trees = [encode(o, tensors) for o in outputs]
        with os.fdopen(files["outputs.safetensors"], "wb") as f:
            write_tensors(f, tensors)
        with os.fdopen(files["outputs.json"], "w") as f:
            json.dump(trees, f)
        report["n_outputs"] = len(trees)
    with os.fdopen(files["report.json"], "w") as f:
        json.dump(report, f)
    kill_descendants()


def zygote(fd: int) -> None:
    """The fork server: import torch once, then fork a child per job sent over the socket ``fd``.

    A job is its directory's path with two file descriptors (the child's stdout
    and stderr). The reply is ``pid N`` once forked, ``exit CODE`` once reaped.
    This process is a subreaper: whatever a child starts stays in its tree.
    """
    import ctypes
    import socket
    import traceback

    for name in ("einops", "minigpt.config"):  # what exercise files import; never minigpt.grading
        try:
            __import__(name)
        except ImportError:
            pass
    try:
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass
    sock = socket.socket(fileno=fd)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(sock, 4096, 2)
        except OSError:
            break
        if not msg or len(fds) != 2:
            break
        job_dir = msg.decode()
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                sock.close()
                os.setsid()
                os.dup2(fds[0], 1)
                os.dup2(fds[1], 2)
                os.close(fds[0])
                os.close(fds[1])
                os.chdir(os.path.join(job_dir, "work"))
                with open(os.path.join(job_dir, "job.json")) as f:
                    os.environ.update(json.load(f)["env"])
                main(job_dir)
            except BaseException:
                traceback.print_exc()
                code = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        for f in fds:
            os.close(f)
        try:
            sock.send(b"pid %d" % pid)
            while True:
                done, status = os.waitpid(-1, 0)  # reap adopted orphans too
                if done == pid:
                    break
            sock.send(b"exit %d" % os.waitstatus_to_exitcode(status))
        except (OSError, ChildProcessError):
            break
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        zygote(int(sys.argv[2]))
        os._exit(0)
    main(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and finalizers the student's code may have registered
