"""`--matmul`: which library computes the fp32 matrix products of every dense layer on the CPU.

torch sends a CPU fp32 product to MKL, which on some AMD processors takes code paths far below what the core can do
(a Zen 5 core: 73-93 GFLOP/s through torch, 280-370 through OpenBLAS on the same core; on a Zen 4 core both ran at
about 90). So a dense layer (`Dense`, an `nn.Linear` with the same weights and checkpoint keys) can send its three
products (forward, input gradient, weight gradient) to another library:

    torch     torch's own product (MKL on x86): exactly what `nn.Linear` computes
    openblas  the OpenBLAS that numpy is built with, through numpy (no copy: numpy views of the tensors)
    onednn    oneDNN's fp32 product, through torch's mkldnn tensors

`auto` picks the fastest of them whose results agree with torch's within float rounding, measured by a probe of a
few milliseconds at a GAN layer's shape (the libraries taking turns), and caches the choice per machine (CPU,
instruction set, library versions, threads, the OpenBLAS and oneDNN variables), so that the same machine keeps
making the same numbers.

Only fp32 products on the CPU change hands: under bf16 autocast, on a GPU, or where autograd must differentiate
the backward itself (the exact unrolled GAN, the gradient penalty), the layer computes as `nn.Linear` does.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hw3cli.core import probes

BACKENDS = ("auto", "torch", "openblas", "onednn")
LIBRARIES = BACKENDS[1:]
AGREEMENT = 1e-5  # a library agrees with torch when every product is within this, relative to its largest entry
FASTER_BY = 1.10  # and replaces torch only when at least this much faster (a few-millisecond probe is noisy)
PROBE_SHAPES = ((64, 784, 1024), (64, 1024, 512))  # a batch through the GAN's widest layers
PROBE_SECONDS = 0.005  # per library and product


Product = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _openblas(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty(a.shape[0], b.shape[1], dtype=torch.float32)
    np.matmul(a.detach().numpy(), b.detach().numpy(), out=out.numpy())  # transposed views go to sgemm as they are
    return out


def _onednn(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    # mkldnn_linear computes a @ w.T from oneDNN's own layout
    return torch._C._nn.mkldnn_linear(a.detach().contiguous().to_mkldnn(),
                                      b.detach().t().contiguous().to_mkldnn(), None).to_dense()


PRODUCTS: dict[str, Product] = {"openblas": _openblas, "onednn": _onednn}
_active: Product | None = None  # None: torch's own


@contextlib.contextmanager
def products(library: str) -> Iterator[None]:
    """Dense layers' CPU fp32 products go to `library` ('torch', 'openblas', 'onednn') inside this block; the
    OpenBLAS thread pool then runs as many threads as torch (a second pool of its own size would oversubscribe)."""
    global _active
    before = _active
    limits = _blas_threads(torch.get_num_threads()) if library == "openblas" else contextlib.nullcontext()
    _active = PRODUCTS.get(library)
    try:
        with limits:
            yield
    finally:
        _active = before


def _blas_threads(threads: int):
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; without it OpenBLAS keeps its own thread count
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads, user_api="blas")


class _Linear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, product: Product):
        ctx.save_for_backward(x, weight)
        ctx.product, ctx.has_bias = product, bias is not None
        out = product(x, weight.t())
        return out.add_(bias) if bias is not None else out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        # Grad mode is on here only when the backward itself is to be differentiated (create_graph): torch's
        # products then, which autograd can follow; the library's are opaque to it.
        mm = torch.mm if torch.is_grad_enabled() else ctx.product
        grad = grad.contiguous()
        grad_x = mm(grad, weight) if ctx.needs_input_grad[0] else None
        grad_w = mm(grad.t(), x) if ctx.needs_input_grad[1] else None
        grad_b = grad.sum(0) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return grad_x, grad_w, grad_b, None


def _autocast_on() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch before 2.4
        return torch.is_autocast_cpu_enabled()


class Dense(nn.Linear):
    """`nn.Linear` (same parameters, same checkpoint keys) whose CPU fp32 products go to the library `products`
    chose; everywhere else, and with 'torch', it is `nn.Linear` exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        product = _active
        if product is None or x.device.type != "cpu" or x.dtype != torch.float32 or \
                self.weight.dtype != torch.float32 or _autocast_on() or x.dim() < 2 or x.numel() == 0 or \
                x.shape[-1] != self.in_features:  # (torch's own message for a wrong shape)
            return F.linear(x, self.weight, self.bias)
        lead = x.shape[:-1]
        out = _Linear.apply(x.reshape(-1, x.shape[-1]).contiguous(), self.weight, self.bias, product)
        return out.reshape(*lead, out.shape[-1]) if len(lead) != 1 else out


# --- auto ------------------------------------------------------------------------------------------------------

def blas_kernel() -> str | None:
    """The BLAS numpy calls and the kernel it chose for this CPU ('OpenBLAS 0.3.31 SkylakeX'), or None."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return None
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(pool.get("internal_api"), "BLAS")
            return " ".join(str(p) for p in (name, pool.get("version"), pool.get("architecture")) if p)
    return None


def machine_key() -> str:
    """What the fastest library depends on: the CPU, the libraries, the threads and the variables that steer
    OpenBLAS's and oneDNN's kernels."""
    from hw3cli.core.hardware import cpu_model

    steer = ",".join(f"{k}={os.environ[k]}" for k in sorted(os.environ)
                     if k.startswith(("OPENBLAS_", "ONEDNN_", "DNNL_", "MKL_")) and k != "OPENBLAS_NUM_THREADS")
    return "|".join([cpu_model(), platform.machine(), torch.backends.cpu.get_cpu_capability(), torch.__version__,
                     np.__version__, blas_kernel() or "no BLAS", f"threads={torch.get_num_threads()}", steer])


def unavailable(library: str) -> str | None:
    """Why `library` cannot run here, or None."""
    if library == "onednn" and not torch.backends.mkldnn.is_available():
        return "this torch is built without oneDNN"
    if library == "openblas" and (blas_kernel() or "").split(" ")[0] not in ("OpenBLAS", "MKL", "BLIS"):
        return "numpy has no optimised BLAS"
    return None


def probe(seconds: float = PROBE_SECONDS) -> dict[str, dict]:
    """Each library's fp32 rate (GFLOP/s) over a dense layer's three products (forward, input gradient, weight
    gradient; each the fastest of repeats over about `seconds`, the libraries taking turns) at the probe's shapes,
    with the threads it will train with, and its largest disagreement with torch's product (relative to the
    product's largest entry)."""
    gen = torch.Generator().manual_seed(0)
    layers = [(torch.randn(batch, fan_in, generator=gen), torch.randn(fan_out, fan_in, generator=gen),
               torch.randn(batch, fan_out, generator=gen)) for batch, fan_in, fan_out in PROBE_SHAPES]
    operands = [pair for x, w, g in layers for pair in ((x, w.t()), (g, w), (g.t(), x))]
    flops = sum(2 * a.shape[0] * a.shape[1] * b.shape[1] for a, b in operands)
    products, errors = {}, {}
    with _blas_threads(torch.get_num_threads()):
        for library in LIBRARIES:
            if unavailable(library):
                continue
            product = PRODUCTS.get(library, torch.mm)
            try:
                errors[library] = max(float((product(a, b) - a @ b).abs().max() / (a @ b).abs().max())
                                      for a, b in operands)
            except RuntimeError:  # a library that cannot run these here is not a candidate
                continue
            products[library] = product
        took = probes.fastest_times({(library, i): _timed(product, a, b) for library, product in products.items()
                                     for i, (a, b) in enumerate(operands)}, seconds)
    return {library: {"gflops": round(flops / sum(t for (name, _), t in took.items() if name == library) / 1e9, 1),
                      "error": errors[library]} for library in products}


def fastest_time(product: Product, a: torch.Tensor, b: torch.Tensor, seconds: float) -> float:
    """The fastest of repeated products, each followed by a torch operation as in a step."""
    return probes.fastest_time(_timed(product, a, b), seconds)


def _timed(product: Product, a: torch.Tensor, b: torch.Tensor) -> Callable[[], object]:
    # the torch operation after the product: a library whose threads fight torch's for the cores shows it here
    return lambda: torch.relu(product(a, b))


def choose(measured: dict[str, dict]) -> str:
    """The fastest library that agrees with torch, where it is clearly faster than torch."""
    agreeing = {k: v for k, v in measured.items() if v["error"] <= AGREEMENT}
    best = max(agreeing, key=lambda k: agreeing[k]["gflops"], default="torch")
    torch_rate = measured.get("torch", {}).get("gflops", 0.0)
    return best if agreeing.get(best, {}).get("gflops", 0.0) >= FASTER_BY * torch_rate else "torch"


def cache_file():
    from hw3cli.data.sources import CACHE_DIR

    return CACHE_DIR / "matmul.json"


def resolve(requested: str) -> str:
    """The library `requested` names; for 'auto', this machine's cached choice, or the probe's (then cached)."""
    from hw3cli.errors import Hw3Error

    if requested != "auto":
        why = unavailable(requested)
        if why:
            raise Hw3Error(f"--matmul {requested} cannot run here: {why}; choose auto or torch")
        return requested

    def decide() -> tuple[str, dict]:
        measured = probe()
        return choose(measured), measured

    return probes.cached_choice(cache_file(), machine_key(), lambda c: c in LIBRARIES and not unavailable(c),
                                decide)[0]


def describe(library: str) -> str:
    """'openblas (OpenBLAS 0.3.31 SkylakeX)', 'torch', 'onednn'."""
    kernel = blas_kernel() if library == "openblas" else None
    return f"{library} ({kernel})" if kernel else library
