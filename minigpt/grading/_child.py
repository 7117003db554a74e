"""The sandboxed side of ``minigpt grade``: run one exercise, write its outputs as data, nothing else.

Run as ``python -I _child.py JOB_DIR`` (or forked by ``python -I _child.py --zygote FD``) by
:mod:`minigpt.grading.processes`. The job directory holds::

    job.json            what to run and the limits
    cases.json          the keyword arguments of each case, as a tree ...
    cases.safetensors   ... whose tensors live here (see :mod:`._wire`)
    deps.py             reference source of the exercise's dependencies
    work/               a copy of the student's files (the current directory)
    out/                what this process writes: ready, outputs.*, report.json

Three modules, one concern each: this runner (import the student's file, call it on each
case, report what happened), :mod:`._wire` (cases in, outputs back, as data only) and
:mod:`._confine` (limits, the import blocker, Landlock, killing what the student started).
The grader decides pass or fail in its own process.

The child imports only the standard library and torch (plus ``minigpt.config`` for module
exercises and ``minigpt.model`` for model exercises), and never ``minigpt.grading``: the
grader's comparisons and the reference solutions stay out of the student's reach. So the
runner loads its two helpers and :mod:`minigpt.weights.safetensors` by their file paths
(:func:`_load`); importing them through the ``minigpt`` package would run its ``__init__``
(the whole model: about a second more per spawned child) and ``minigpt.grading``'s. The
grader imports this file as a module for :func:`call_with_model` (no side effects on import).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys

import torch


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # minigpt/


def _load(module: str, name: str):
    """``minigpt.<module>`` as usual in the grader; inside the sandbox, its file loaded as ``name``."""
    if __package__:  # imported by the grader as minigpt.grading._child
        return importlib.import_module(f"minigpt.{module}")
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, os.path.join(_PACKAGE, *module.split(".")) + ".py")
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


_load("weights.safetensors", "_sandbox_safetensors")  # first: _wire reads and writes the tensors with it
wire = _load("grading._wire", "_sandbox_wire")
confine = _load("grading._confine", "_sandbox_confine")


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
    confine.set_limits(job["limits"])
    out = os.path.join(job_dir, "out")
    work = os.path.join(job_dir, "work")
    sys.dont_write_bytecode = True
    confine.block_imports(job["blocked"])
    confine.become_subreaper()
    import builtins

    torch.set_num_threads(job["threads"])
    cases = wire.read_cases(job_dir)
    GPTConfig = None
    if job["kind"] == "module":
        from minigpt.config import GPTConfig
    with open(os.path.join(job_dir, "deps.py")) as f:
        deps = f.read()

    files = _open_outputs(out)
    rss = confine.tighten_memory(job["limits"]["memory_bytes"])
    confined = job.get("landlock", True) and confine.landlock_abi() > 0
    _write_json(os.path.join(out, "ready"), {"rss_bytes": rss, "landlock": confined})
    readable = confine.python_roots() + [_PACKAGE, work]  # the package, even where it was not imported
    if confined and not confine.landlock([work, os.path.join(job_dir, "tmp")], readable, job.get("hidden", [])):
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
        with (os.fdopen(files["outputs.safetensors"], "wb") as tensors_file,
              os.fdopen(files["outputs.json"], "w") as trees_file):
            report["n_outputs"] = wire.write_outputs(outputs, tensors_file, trees_file)
    with os.fdopen(files["report.json"], "w") as f:
        json.dump(report, f)
    confine.kill_descendants()


def zygote(fd: int) -> None:
    """The fork server: import torch once, then fork a child per job sent over the socket ``fd``.

    A job is its directory's path with two file descriptors (the child's stdout
    and stderr). The reply is ``pid N`` once forked, ``exit CODE`` once reaped.
    This process is a subreaper: whatever a child starts stays in its tree.
    """
    import socket
    import traceback

    for name in ("einops", "minigpt.config"):  # what exercise files import; never minigpt.grading
        try:
            __import__(name)
        except ImportError:
            pass
    confine.become_subreaper()
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
