"""Problem 0: the hand-set threshold RNN that adds binary numbers; exhaustive checks; learning one."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from rich.table import Table

from hw3cli.configs import AddConfig, LearnConfig, VerifyConfig
from hw3cli.core.checkpoint import load_checkpoint, save_checkpoint
from hw3cli.core.device import resolve_device
from hw3cli.core.files import all_or_nothing, json_text, write_json
from hw3cli.core.hardware import machine_record
from hw3cli.core.memory import require as require_memory
from hw3cli.core.wording import counted
from hw3cli.data.binary import adder_inputs, bits_to_string, parse_binary
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.lifecycle import TrainingRun
from hw3cli.models.adder import ThresholdAdder
from hw3cli.train.adder import SmoothAdder, train_smooth_adder, verify_exhaustive, verify_random

CHECKPOINT_KIND = "threshold-adder"


# The progress file's record (what --resume reads back): each finished seed's run and the best ones.
PROGRESS = {"runs": [dict], "best": [int]}
LEARN_FILES = ("learned.safetensors", "config.json", "metrics.json", "timings.json")


def load_adder(weights: Path | None) -> ThresholdAdder:
    if weights is None:
        return ThresholdAdder.hand_set()
    tensors, _ = load_checkpoint(weights, CHECKPOINT_KIND)
    try:
        return ThresholdAdder.from_tensors(tensors)
    except ValueError as exc:
        raise Hw3Error(f"{weights} is not a usable adder: {exc}") from None


def run(config: AddConfig) -> int:
    # Python refuses to print integers of more than 4,300 digits by default; these are the user's own numbers.
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else None
    if limit is not None:
        sys.set_int_max_str_digits(0)
    try:
        with all_or_nothing():
            return _add(config)
    finally:
        if limit is not None:
            sys.set_int_max_str_digits(limit)


def _add(config: AddConfig) -> int:
    a, b = parse_binary(config.a, "first number"), parse_binary(config.b, "second number")
    adder = load_adder(config.weights)
    x = adder_inputs(a, b)
    with torch.no_grad():
        y, h = adder(x.unsqueeze(0))
    # Python ints from one tolist() each: indexing tensors element by element costs seconds on long sums.
    xs, hs, ys = x.int().tolist(), h[0].int().tolist(), y[0].int().tolist()
    total = bits_to_string(ys)
    correct = int(total, 2) == int(a, 2) + int(b, 2)
    result = {
        "a": a,
        "b": b,
        "sum": total,
        "decimal": {"a": int(a, 2), "b": int(b, 2), "sum": int(total, 2)},
        "correct": correct,
        "x1": [v[0] for v in xs],
        "x2": [v[1] for v in xs],
        "steps": [{"t": t, "x1": xt[0], "x2": xt[1], "h": ht, "y": yt}
                  for t, (xt, ht, yt) in enumerate(zip(xs, hs, ys))],
        "y": ys,
        "weights": {name: t.tolist() for name, t in adder.tensors().items()},
    }
    if config.save is not None:
        write_json(config.save, result)
    out = display.stdout()
    if config.as_json:
        # Plain json: rich's highlighter takes minutes on long sums, and indenting them seconds.
        sys.stdout.write(json_text(result, indent=2 if len(result["steps"]) <= 200 else None) + "\n")
        return 0 if correct else 1
    columns = ("t", "x1", "x2", "h1 (s>=1)", "h2 (carry)", "h3 (s=3)", "y")
    if len(result["steps"]) > 200:  # a rich table of thousands of rows takes minutes to lay out: plain columns
        sys.stdout.write(f"{a} + {b}, least significant bit first\n" + "  ".join(columns) + "\n" + "".join(
            f"{s['t']:>1}  {s['x1']:>2}  {s['x2']:>2}  {s['h'][0]:>9}  {s['h'][1]:>10}  {s['h'][2]:>8}  {s['y']:>1}\n"
            for s in result["steps"]))
    else:
        table = Table(title=f"{a} + {b}, least significant bit first")
        for column in columns:
            table.add_column(column, justify="right")
        for s in result["steps"]:
            table.add_row(str(s["t"]), str(s["x1"]), str(s["x2"]), *map(str, s["h"]), f"[bold]{s['y']}")
        out.print(table)
    if config.show_weights:
        out.print(_weights_table(adder))
    mark = "[green]correct[/]" if correct else "[red]WRONG[/]"
    out.print(f"{a} + {b} = [bold]{total}[/]  ({int(a, 2)} + {int(b, 2)} = {int(total, 2)}, {mark})")
    return 0 if correct else 1


def _weights_table(adder: ThresholdAdder) -> Table:
    table = Table(title="weights (h = step(U x + W h_prev + b_h), y = step(v.h + b_y))")
    table.add_column("name")
    table.add_column("value")
    for name, value in adder.tensors().items():
        table.add_row(name, json.dumps(value.tolist()))
    return table


def run_verify(config: VerifyConfig) -> int:
    resolve_device("cpu", config.threads)
    if config.bits < 1:
        raise Hw3Error(f"--verify needs at least 1 bit, got {config.bits}")
    if config.bits > 14:
        raise Hw3Error(f"--verify {config.bits} would check 4^{config.bits} pairs; 14 bits is the most allowed")
    if config.random_pairs < 0 or config.random_bits < 1:
        raise Hw3Error("--random-pairs must be >= 0 and --random-bits >= 1")
    require_memory(64 * config.random_pairs * (config.random_bits + 1) * 2,
                   f"--random-pairs {config.random_pairs:,} of --random-bits {config.random_bits:,}")
    adder = load_adder(config.weights)
    start = time.perf_counter()
    exhaustive = verify_exhaustive(adder, config.bits)
    exhaustive_seconds = time.perf_counter() - start
    rand = verify_random(adder, config.random_pairs, config.random_bits, config.seed)
    ok = exhaustive.ok and rand.ok
    report = {
        "exhaustive": {"bits": config.bits, "checked": exhaustive.checked, "mismatches": exhaustive.mismatches,
                       "examples": exhaustive.examples, "seconds": round(exhaustive_seconds, 3)},
        "random": {"max_bits": config.random_bits, "checked": rand.checked, "mismatches": rand.mismatches,
                   "examples": [[str(v) for v in e] for e in rand.examples], "seed": config.seed},
        "ok": ok,
        "machine": machine_record(torch.device("cpu")),
    }
    out = display.stdout()
    if config.as_json:
        sys.stdout.write(json_text(report) + "\n")
    else:
        out.print(f"every pair up to {config.bits} bits: {exhaustive.checked:,} checked, "
                  f"{exhaustive.mismatches:,} wrong ({exhaustive_seconds:.1f} s)")
        out.print(f"random pairs up to {config.random_bits} bits: {rand.checked:,} checked, {rand.mismatches:,} wrong")
        for a, b, said in exhaustive.examples + rand.examples:
            out.print(f"  {a} + {b}: network said {said}, expected {int(a) + int(b)}")
        out.print("[green]all correct[/]" if ok else "[red]MISMATCHES FOUND[/]")
    return 0 if ok else 1


def run_learn(config: LearnConfig) -> int:
    if config.seeds < 1 or config.steps < 1 or config.batch < 1 or config.width < 1:
        raise Hw3Error("--seeds, --steps, --batch and --width must all be at least 1")
    if not 1 <= config.verify_bits <= 14:
        raise Hw3Error("--verify-bits must be between 1 and 14")
    job = TrainingRun(config, "rnn-add-learn", LEARN_FILES)
    state, tensors = job.restore(PROGRESS)
    # The finished seeds are kept; the interrupted one starts again (a few seconds).
    runs, best = state.get("runs", []), None
    if runs:
        try:
            if len(state["best"]) != 2:
                raise ValueError("its best seed is not a (mismatches, seed) pair")
            best = (*state["best"], ThresholdAdder.from_tensors(tensors))
        except ValueError as exc:
            raise Hw3Error(f"--resume: {job.state_file} is not a usable progress file ({exc})") from None
    first = config.runtime.seed
    with job.training() as bar:
        for seed in range(first + len(runs), first + config.seeds):
            generator = torch.Generator().manual_seed(seed)
            model = SmoothAdder(generator)
            task = bar.add_task(f"seed {seed}", total=config.steps, status="")
            start, curve = time.perf_counter(), []
            steps = train_smooth_adder(model, generator, config.steps, config.batch, config.width, config.lr,
                                       config.max_steepness)
            for record in job.watch(({**r, "seed": seed} for r in steps), "seed", lambda: len(runs)):
                if record["step"] % 10 == 0 or record["step"] == config.steps:
                    curve.append([record["step"], record["loss"]])
                    bar.update(task, completed=record["step"], status=f"loss {record['loss']:.4f}")
            hard = model.harden()
            check = verify_exhaustive(hard, config.verify_bits)
            runs.append({"seed": seed, "final_loss": curve[-1][1], "mismatches": check.mismatches,
                         "checked": check.checked, "correct": check.ok,
                         "seconds": round(time.perf_counter() - start, 2), "loss_curve": curve})
            bar.update(task, status=f"loss {curve[-1][1]:.4f}  {'adder' if check.ok else 'not an adder'}")
            if best is None or check.mismatches < best[0]:
                best = (check.mismatches, seed, hard)
            job.save({"runs": runs, "best": best[:2]}, best[2].tensors())
    successes = sum(r["correct"] for r in runs)
    metrics = {"successes": successes, "seeds": config.seeds, "best_seed": best[1], "best_mismatches": best[0],
               "runs": runs, "machine": machine_record(torch.device("cpu"))}
    job.finish(metrics, lambda folder: save_checkpoint(folder / "learned.safetensors", best[2].tensors(),
                                                       CHECKPOINT_KIND, extra={"seed": str(best[1]),
                                                                               "mismatches": str(best[0])}))
    out = display.stdout()
    table = Table(title=f"3-unit adders learned by gradient descent, hardened, checked to {config.verify_bits} bits")
    for column in ("seed", "final loss", "wrong pairs", "correct adder", "seconds"):
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(str(r["seed"]), f"{r['final_loss']:.2e}", f"{r['mismatches']:,}",
                      "[green]yes[/]" if r["correct"] else "[red]no[/]", f"{r['seconds']:.1f}")
    out.print(table)
    out.print(f"{successes} of {counted(config.seeds, 'seed')} recovered a correct adder; saved seed {best[1]} "
              f"({best[0]:,} wrong pairs) to {job.dir / 'learned.safetensors'}")
    return 0
