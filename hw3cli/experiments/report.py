"""`hw3cli report`: REPORT.md and REPORT.html from the run folders alone (nothing is retrained).

The report follows the assignment (Problem 0, 1, 2). Every figure has a caption and the command that made it;
a run that is missing is listed with the make target that produces it.
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import time
from pathlib import Path

from hw3cli.configs import ReportConfig, gan_variant
from hw3cli.core.files import all_or_nothing, atomic_write_text, read_json, where
from hw3cli.core.hardware import describe
from hw3cli.core.schema import RUN_CONFIG, MapOf, Maybe, Number, check
from hw3cli.core.wording import counted
from hw3cli.data.mixtures import PUBLISHED
from hw3cli.data.sources import MIXTURE_G_STEPS
from hw3cli.errors import Hw3Error
from hw3cli.experiments import display
from hw3cli.experiments.collapse_summary import MEASURES, seeds_answer, span
from hw3cli.experiments.records import (
    ADDER_EXAMPLE,
    ADDER_VERIFY,
    HISTOGRAM_ROW,
    HISTOGRAMS,
    STATS,
    TOY_ROW,
    TOY_SUMMARY,
    read_run,
)
from hw3cli.experiments.toy_summary import within


class Report:
    """Blocks rendered twice: to Markdown and to a self-contained HTML page."""

    def __init__(self, root: Path, out_dir: Path):
        self.root, self.out_dir = root, out_dir
        self.md: list[str] = []
        self.html: list[str] = []
        self.missing: list[tuple[str, str]] = []

    def heading(self, level: int, text: str) -> None:
        self.md.append(f"{'#' * level} {text}\n")
        self.html.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def para(self, text: str) -> None:
        self.md.append(text + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.md.append("| " + " | ".join(header) + " |\n| " + " | ".join("---" for _ in header) + " |\n"
                       + "".join("| " + " | ".join(r) + " |\n" for r in rows))
        cells = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        self.html.append(f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>")

    def figure(self, path: Path, caption: str, run_dir: Path | None = None) -> None:
        if not path.is_file():
            return
        rel = os.path.relpath(path, self.out_dir)
        command = _command(run_dir) if run_dir is not None else None
        made = f" Made by `{command}`." if command else ""
        self.md.append(f"![{caption}]({rel})\n\n*{caption}.{made}*\n")
        made_html = f" Made by <code>{html.escape(command)}</code>." if command else ""
        self.html.append(f'<figure><img src="{html.escape(rel)}" alt="{html.escape(caption)}">'
                         f"<figcaption>{html.escape(caption)}.{made_html}</figcaption></figure>")

    def need(self, path: Path, target: str, what: str) -> bool:
        if path.exists():
            return True
        self.missing.append((what, target))
        self.md.append(f"> Missing: {what} (`{path}`). Run `make {target}`.\n")
        self.html.append(f'<p class="missing">Missing: {html.escape(what)} ({html.escape(str(path))}). '
                         f"Run <code>make {html.escape(target)}</code>.</p>")
        return False


def _command(run_dir: Path) -> str | None:
    """The command that made a run, as its config.json records it."""
    if not os.path.lexists(run_dir / "config.json"):
        return None
    record = check(read_json(run_dir / "config.json", "run config"), RUN_CONFIG, run_dir / "config.json")
    return " ".join(map(str, record["command"]))


def _load(path: Path, schema) -> dict:
    """A file the report reads, checked against its schema: a damaged one is an error naming it, not a wrong
    sentence in the report."""
    if path.name == "metrics.json":
        return read_run(path.parent, (schema,))[1]
    return check(read_json(path, "result file"), schema, path)


def _took(metrics: dict) -> str:
    """The run's wall-clock time (from timings.json), when it was recorded, and the machine it was taken on."""
    if "total_seconds" not in metrics:
        return ""
    rate = f", {metrics['images_per_second']:,.0f} images/s" if "images_per_second" in metrics else ""
    return f" Trained in {metrics['total_seconds'] / 60:.1f} min{rate}{_on(metrics)}."


def _on(record: dict) -> str:
    """' on <machine>' for a record that names the machine its times were taken on."""
    return f" on {describe(record['machine'])}" if isinstance(record.get("machine"), dict) else ""


def _max_len(data_dir: Path) -> str:
    """The padded length preprocess used, as its config.json records it."""
    record = check(read_json(data_dir / "config.json", "run config"), RUN_CONFIG, data_dir / "config.json")
    return f"{record['config'].get('max_len', '?')}"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def problem0(r: Report) -> None:
    adder = r.root / "adder"
    r.heading(2, "Problem 0: binary addition with a 3-unit threshold RNN")
    if r.need(adder / "example.json", "adder", "the worked example"):
        ex = _load(adder / "example.json", ADDER_EXAMPLE)
        r.para(f"{ex['a']} + {ex['b']} = {ex['sum']} ({ex['decimal']['a']} + {ex['decimal']['b']} = "
               f"{ex['decimal']['sum']}), inputs least significant bit first with one extra zero of padding.")
        r.table(["t", "x1", "x2", "h1 (s>=1)", "h2 (carry)", "h3 (s=3)", "y"],
                [[str(s["t"]), str(s["x1"]), str(s["x2"]), *map(str, s["h"]), str(s["y"])] for s in ex["steps"]])
        w = ex["weights"]
        r.table(["U", "W", "b_h", "v", "b_y", "h0"], [[json.dumps(w[k]) for k in ("U", "W", "b_h", "v", "b_y", "h0")]])
    if r.need(adder / "verify.json", "adder", "the exhaustive check"):
        v = _load(adder / "verify.json", ADDER_VERIFY)
        r.para(f"Exhaustive check: all {v['exhaustive']['checked']:,} pairs of up to {v['exhaustive']['bits']} bits, "
               f"{v['exhaustive']['mismatches']} wrong, in {v['exhaustive']['seconds']:.1f} s{_on(v)}; "
               f"{v['random']['checked']:,} random pairs of up to {v['random']['max_bits']} bits, "
               f"{v['random']['mismatches']} wrong.")
    if r.need(adder / "learned" / "metrics.json", "adder", "the learned adder"):
        m = _load(adder / "learned" / "metrics.json", "rnn-add-learn")
        r.para(f"Learning the same network by gradient descent (steep sigmoid, then hardened to steps): "
               f"{m['successes']} of {counted(m['seeds'], 'seed')} recover an adder that is correct on every pair "
               "up to 10 bits.")


def problem1(r: Report) -> None:
    imdb = r.root / "imdb"
    r.heading(2, "Problem 1: IMDB sentiment, GRU vs MLP")
    if r.need(imdb / "data" / "stats.json", "imdb-data", "the preprocessed data"):
        s = _load(imdb / "data" / "stats.json", STATS)
        r.para(f"Vocabulary of {s['vocabulary_size']:,} entries (0 padding, 1 unknown) from the training reviews; "
               f"{s['splits']['train']['reviews']:,} train, {s['splits']['dev']['reviews']:,} dev and "
               f"{s['splits']['test']['reviews']:,} test reviews of {_max_len(imdb / 'data')} indices, left-padded; "
               f"{_pct(s['splits']['test']['share_truncated'])} of test reviews are longer and cut; "
               f"{_pct(s['unknown_token_rate_test'])} of test tokens are unknown.")
    runs = [("gru", "GRU"), ("mlp-embedding", "MLP on embeddings"), ("mlp-ids", "MLP on raw indices")]
    rows = []
    for folder, name in runs:
        if r.need(imdb / folder / "metrics.json", "imdb", f"the {name} run"):
            m = _load(imdb / folder / "metrics.json", "train-gru" if folder == "gru" else "train-mlp")
            rows.append([name, _pct(m["test_accuracy"]), _pct(m["dev_accuracy"]), f"{m['parameters']:,}",
                         f"{m['seconds_per_epoch']:.0f}" if "seconds_per_epoch" in m else "-",
                         describe(m.get("machine"))])
    if rows:
        r.table(["model", "test accuracy", "dev accuracy", "parameters", "seconds / epoch", "measured on"], rows)
    for folder, name in runs:
        r.figure(imdb / folder / "curves.png", f"{name}: loss and dev accuracy per epoch", imdb / folder)


# Where a run recorded them, sample-quality numbers by the judge (trained from scratch) come first, then the
# assignment's classifier's (fine-tuned from the vanilla GAN's discriminator).
GRADERS = (("judge_quality", "the judge"), ("quality", "the classifier"))


def problem2(r: Report) -> None:
    gan = r.root / "gan"
    r.heading(2, "Problem 2: GANs on Fashion-MNIST")
    for section in (single_runs, classifier_run, judge_run, wgan_runs, unrolled_runs, mode_collapse, class_histograms,
                    toy_mixtures, conditional_run):
        section(r, gan)


def single_runs(r: Report, gan: Path) -> None:
    """The vanilla, MSE and least-squares runs: summary, curves and samples."""
    singles = (("vanilla", "Vanilla GAN", "gan-vanilla"), ("mse-batch250", "MSE, batch 250", "gan-mse"),
               ("mse-batch10", "MSE, batch 10", "gan-mse"), ("lsgan", "Least-squares GAN", "gan-lsgan"))
    for folder, title, target in singles:
        run = gan / folder
        r.heading(3, title)
        if not r.need(run / "metrics.json", target, f"the {title} run"):
            continue
        m = _load(run / "metrics.json", "train-gan")
        r.para(m.get("summary", "") + _took(m))
        r.figure(run / "loss.png", f"{title}: G and D losses per iteration and per epoch", run)
        r.figure(run / "scores.png", f"{title}: real and fake scores per iteration and per epoch", run)
        r.figure(run / "samples_strip.png", f"{title}: samples of one fixed noise batch over training", run)


def wgan_runs(r: Report, gan: Path) -> None:
    """The four clip values side by side; what the text says follows from their numbers."""
    r.heading(3, "WGAN with weight clipping")
    clips = ["0.1", "0.01", "0.001", "0.0001"]
    rows, finals = [], {}
    for clip in clips:
        run = gan / f"wgan-clip{clip}"
        if r.need(run / "metrics.json", "gan-wgan", f"the WGAN run with clip {clip}"):
            m = _load(run / "metrics.json", "train-gan")
            last = m["epochs"][-1]
            finals[clip] = m
            if last["d_loss"] is None:
                raise Hw3Error(f"{run / 'metrics.json'}: a WGAN run without a critic loss in its last epoch")
            rows.append([clip, f"{last['d_loss']:.4f}", f"{-last['d_loss']:.4f}", f"{m['sample_diversity']:.3f}"])
    if rows:
        r.table(["clip c", "final critic loss", "Wasserstein estimate (-critic loss)", "sample diversity"], rows)
        best = max(finals, key=lambda c: finals[c]["sample_diversity"])
        widest = max(finals, key=lambda c: -finals[c]["epochs"][-1]["d_loss"])
        text = (f"The critic's Wasserstein estimate is largest with c = {widest}: a looser clip leaves the critic more "
                f"capacity to separate real from fake. The most varied samples come from c = {best}.")
        real = next(iter(finals.values())).get("real_diversity")
        collapsed = [c for c, m in finals.items() if real and m["sample_diversity"] < real / 4]
        if collapsed:
            text += (f" With c = {' and '.join(collapsed)} the samples collapsed (pixel diversity below a quarter of "
                     f"real images' {real:.3f}): a critic clipped too loosely saturates, one clipped too tightly is "
                     "nearly linear and gives G too little signal.")
        r.para(text)
    gradient_penalty(r, gan, finals)
    r.figure(gan / "wgan-comparison" / "comparison.png", "WGAN: loss curves and final samples for each clip value "
             "and the gradient penalty")


def gradient_penalty(r: Report, gan: Path, clips: dict[str, dict]) -> None:
    """WGAN-GP beside the clips, on the judge's and the classifier's quality measures where the runs recorded
    them."""
    run = gan / "wgan-gp"
    if not r.need(run / "metrics.json", "gan-wgan", "the WGAN-GP run"):
        return
    m = _load(run / "metrics.json", "train-gan")
    r.para(m.get("summary", "") + _took(m))
    for key, grader in GRADERS:
        measured = {f"clip {c}": x[key] for c, x in clips.items() if isinstance(x.get(key), dict)}
        if key not in m or not measured:
            continue
        rows = [[name, f"{q['frechet_distance']:.2f}", f"{q['kl_from_uniform']:.3f}", str(q["classes_over_5pct"])]
                for name, q in {**measured, "gradient penalty": m[key]}.items()]
        r.table(["critic constraint", f"Frechet distance ({grader})", f"class KL ({grader})", "classes >= 5%"], rows)
        gp = m[key]
        beaten = [n for n, q in measured.items() if gp["frechet_distance"] < q["frechet_distance"] and
                  gp["kl_from_uniform"] < q["kl_from_uniform"]]
        if len(beaten) == len(measured):
            r.para(f"By {grader}, the gradient penalty beats every clip measured on both Frechet distance and class "
                   "KL.")
        else:
            missed = [n for n in measured if n not in beaten]
            r.para(f"By {grader}, the gradient penalty beats {len(beaten)} of {len(measured)} clips on both Frechet "
                   f"distance and class KL; not {', '.join(missed)}.")


def classifier_run(r: Report, gan: Path) -> None:
    """The Fashion-MNIST classifier the generators are measured with."""
    r.heading(3, "Classifier (D's architecture with 10 outputs)")
    if r.need(gan / "classifier" / "metrics.json", "classifier", "the classifier"):
        m = _load(gan / "classifier" / "metrics.json", "classify")
        r.para(f"Test accuracy {_pct(m['test_accuracy'])}, initialised from "
               f"{m.get('initialised_from') or 'random weights'}.")
        r.figure(gan / "classifier" / "accuracy.png", "Classifier: loss and accuracy per epoch", gan / "classifier")
        r.figure(gan / "classifier" / "confusion.png", "Classifier: test confusion matrix", gan / "classifier")


def judge_run(r: Report, gan: Path) -> None:
    """The judge: a CNN trained from scratch, which grades the generators independently of every GAN."""
    r.heading(3, "The judge (a CNN trained from scratch)")
    if r.need(gan / "judge" / "metrics.json", "judge", "the judge"):
        m = _load(gan / "judge" / "metrics.json", "judge")
        check(list(m["per_class_accuracy"].values()), [Number], gan / "judge" / "metrics.json")
        worst = min(m["per_class_accuracy"], key=m["per_class_accuracy"].get)
        r.para(f"Test accuracy {_pct(m['test_accuracy'])} (lowest class: {worst}, "
               f"{_pct(m['per_class_accuracy'][worst])}). The classifier above is fine-tuned from the vanilla GAN's "
               "discriminator, so grading the GANs with it alone grades them by a relative; the judge shares no "
               "weights, architecture or data pass with any GAN, and every sample-quality number below is given by "
               "both where both measured it.")
        r.figure(gan / "judge" / "confusion.png", "Judge: test confusion matrix", gan / "judge")


def unrolled_runs(r: Report, gan: Path) -> None:
    """The unrolled runs, surrogate and exact."""
    r.heading(3, "Unrolled GANs")
    for mode in ("surrogate", "exact"):
        run = gan / f"unrolled-{mode}-k5"
        if r.need(run / "metrics.json", "gan-unrolled", f"the unrolled ({mode}) run"):
            m = _load(run / "metrics.json", "train-gan")
            r.para(m.get("summary", "") + _took(m))
            r.figure(run / "loss.png", f"Unrolled GAN ({mode}, K = 5): losses", run)


def class_histograms(r: Report, gan: Path) -> None:
    """Mode collapse: predicted classes of each generator's samples."""
    r.heading(3, "Mode collapse: class histograms")
    if r.need(gan / "histograms" / "histograms.json", "histograms", "the class histograms"):
        h = _load(gan / "histograms" / "histograms.json", HISTOGRAMS)
        for name, row in h["rows"].items():
            check(row, HISTOGRAM_ROW, f"{gan / 'histograms' / 'histograms.json'} (row {name})")
        rows = [[name, f"{s['kl_from_uniform']:.3f}", f"{s['chi2_p_value']:.2g}", str(s["classes_over_5pct"]),
                 f"{s['inception_score']:.2f}", f"{s['frechet_distance']:.2f}"] for name, s in h["rows"].items()]
        r.table(["source", "KL from uniform", "chi-square p", "classes >= 5%", "inception score", "Frechet distance"],
                rows)
        generated = {k: v for k, v in h["rows"].items() if not k.startswith("real")}
        if generated:
            widest = max(generated, key=lambda k: (generated[k]["classes_over_5pct"], -generated[k]["kl_from_uniform"]))
            closest = min(generated, key=lambda k: generated[k]["frechet_distance"])
            r.para(f"{widest} covers the most classes ({generated[widest]['classes_over_5pct']} holding at least 5% "
                   f"of its samples, KL {generated[widest]['kl_from_uniform']:.3f}); {closest} is closest to real "
                   f"images by Frechet distance ({generated[closest]['frechet_distance']:.2f}; real train vs test: "
                   f"{h['rows']['real test images']['frechet_distance']:.2f}).")
        if "judge_rows" in h:
            judged(r, h, gan / "histograms" / "histograms.json")
        for grader, table in h.get("fidelity", {}).items():
            fidelity(r, grader, table)
        r.figure(gan / "histograms" / "histograms.png", "Predicted classes of 3000 samples per generator")


def fidelity(r: Report, grader: str, table: dict) -> None:
    """Precision, recall, density and coverage in one grader's features, beside the real-train calibration row."""
    r.para(f"Fidelity and diversity in the {grader}'s features (precision and recall at k = 3, density and coverage "
           "at k = 5; the real train images are the calibration: what a generator as good as the data would score):")
    rows = []
    for name, s in table.items():
        least = min(s["coverage_per_class"], key=s["coverage_per_class"].get)
        rows.append([name, *(f"{s[k]:.3f}" for k in ("precision", "recall", "density", "coverage")),
                     f"{least} {s['coverage_per_class'][least]:.3f}"])
    r.table(["source", "precision", "recall", "density", "coverage", "least-covered class"], rows)
    generated = {n: s for n, s in table.items() if not n.startswith("real")}
    calibration = table.get("real train images")
    if generated and calibration:
        widest, narrowest = (f(generated, key=lambda n: generated[n]["coverage"]) for f in (max, min))
        least = f", {narrowest} the least ({generated[narrowest]['coverage']:.3f})" if len(generated) > 1 else ""
        if generated[widest]["coverage"] < 0.0005:  # 0.000 as printed: no ranking to give
            r.para(f"By the {grader}, no generator's samples reach the real test images (coverage 0.000 for each, "
                   f"against the calibration's {calibration['coverage']:.3f}).")
        else:
            r.para(f"By the {grader}, {widest} covers the most of the real test images "
                   f"({generated[widest]['coverage']:.3f} against the calibration's {calibration['coverage']:.3f})"
                   f"{least}.")


def judged(r: Report, h: dict, path: Path) -> None:
    """The class histograms as the judge labels the same samples, and where it and the classifier disagree."""
    check(h["agreement"], {name: Number for name in h["rows"]}, path)
    for name in h["rows"]:
        check(h["judge_rows"].get(name), HISTOGRAM_ROW, f"{path} (judge row {name})")
    rows = [[name, f"{s['kl_from_uniform']:.3f}", f"{h['rows'][name]['kl_from_uniform']:.3f}",
             str(s["classes_over_5pct"]), f"{s['inception_score']:.2f}", f"{s['frechet_distance']:.2f}",
             _pct(h["agreement"][name])] for name, s in ((n, h["judge_rows"][n]) for n in h["rows"])]
    r.para("The same samples labelled by the judge:")
    r.table(["source", "KL from uniform (judge)", "KL (classifier)", "classes >= 5% (judge)", "inception score "
             "(judge)", "Frechet distance (judge)", "labelled alike"], rows)
    generated = [n for n in h["rows"] if not n.startswith("real")]
    if generated:
        apart = min(generated, key=lambda n: h["agreement"][n])
        real = h["agreement"].get("real test images")
        r.para(f"The two graders disagree most on {apart}: they put {_pct(1 - h['agreement'][apart])} of its samples "
               f"in different classes" + (f" (on real test images: {_pct(1 - real)})" if real is not None else "")
               + f"; its KL from uniform is {h['judge_rows'][apart]['kl_from_uniform']:.3f} by the judge and "
               f"{h['rows'][apart]['kl_from_uniform']:.3f} by the classifier.")


def mode_collapse(r: Report, gan: Path) -> None:
    """The assignment's question answered first, in one paragraph joining every measure there is (the seeds'
    intervals, else the one-seed histograms; the 2-D mixtures), then the table the answer rests on."""
    seeds = gan / "mode-collapse" / "summary.json"
    summary = _load(seeds, MapOf({"seeds": int, **{key: {"mean": Number, "low": Maybe(Number), "high": Maybe(Number)}
                                                   for key, _, _ in MEASURES}})) if seeds.is_file() else None
    histograms = gan / "histograms" / "histograms.json"
    one_seed = _one_seed_rows(_load(histograms, HISTOGRAMS), histograms) if summary is None and \
        histograms.is_file() else None
    toy = gan / "toy" / "summary.json"
    mixtures = _load(toy, TOY_SUMMARY) if toy.is_file() else {}
    if summary is None and one_seed is None and not mixtures:
        return
    r.heading(3, "Mode collapse: do the unrolled GAN and WGAN reduce it?")
    parts = [seeds_answer(summary) if summary is not None else _one_seed_answer(*one_seed) if one_seed else
             "No Fashion-MNIST variant was graded (make histograms, or make mode-collapse for several seeds)."]
    parts += [_mixture_answer(dataset, {n: check(v, TOY_ROW, f"{toy} ({dataset} {n})")
                                        for n, v in check(rows, {}, toy).items()})
              for dataset, rows in mixtures.items()]
    finding = _grid_finding(gan / "toy", mixtures.get("grid", {}))
    r.para(" ".join([*parts, *([finding] if finding else [])]))
    if summary is not None:
        grader = next(iter(summary.values())).get("grader")  # the seeds' grader, whose features calibrate them
        calibration = (_one_seed_rows(_load(histograms, HISTOGRAMS), histograms, grader) or ({}, ""))[0].get(
            "real (calibration)") if histograms.is_file() else None
        r.para("Fashion-MNIST over seeds: each cell the mean and its 95% interval (Student's t over the seeds)"
               + ("; the calibration row, real images against the real test images, is one measurement."
                  if calibration else "."))
        r.table(["variant", "seeds", *(heading for _, heading, _ in MEASURES)],
                [[name, str(row["seeds"]), *(span(row[key]) for key, _, _ in MEASURES)]
                 for name, row in summary.items()]
                + ([["real (calibration)", "", *(_cell(calibration.get(k)) for k, _, _ in MEASURES)]]
                   if calibration else []))
    elif one_seed:
        rows, grader = one_seed
        r.para(f"Fashion-MNIST, one seed per variant, graded by the {grader} (no interval: `make mode-collapse "
               "SEEDS=\"1 2 3\"` gives them; the calibration row: real images against the real test images):")
        r.table(["variant", *(heading for _, heading, _ in MEASURES)],
                [[name, *(_cell(row.get(k)) for k, _, _ in MEASURES)] for name, row in rows.items()])


def _cell(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else "-" if value is None else str(value)


def _one_seed_rows(h: dict, path: Path, grader: str | None = None) -> tuple[dict, str] | None:
    """Each graded generator's measures in one grader's features (`grader`'s, else the judge's where it labelled
    the samples), its precision, recall, density and coverage where they were measured, or None."""
    judge = isinstance(h.get("judge_rows"), dict) and grader in (None, "judge")
    key, grader = ("judge_rows", "judge") if judge else ("rows", "classifier")
    table, fidelity = check(h[key], {}, path), h.get("fidelity", {}).get(grader, {})
    rows = {name: {**check(row, HISTOGRAM_ROW, f"{path} ({key} {name})"), **fidelity.get(name, {})}
            for name, row in table.items() if not name.startswith("real")}
    if rows and "real test images" in table:  # what the data itself scores
        rows["real (calibration)"] = {**check(table["real test images"], HISTOGRAM_ROW, path),
                                      **fidelity.get("real train images", {})}
    return (rows, grader) if rows else None


def _one_seed_answer(rows: dict, grader: str) -> str:
    if BASELINE not in rows:
        return "On Fashion-MNIST no vanilla GAN was graded: nothing to compare the variants with."
    base, covered = rows[BASELINE], all("coverage" in row for row in rows.values())

    def measures(row: dict) -> str:
        return f"{row['kl_from_uniform']:.3f}" + (f" and {row['coverage']:.3f}" if covered else "")

    others = [f"{n} {measures(row)}" for n, row in rows.items() if n.startswith(("unrolled", "wgan"))]
    return (f"On Fashion-MNIST, from one seed per variant graded by the {grader}, the vanilla GAN's class KL from "
            f"uniform is {base['kl_from_uniform']:.3f}"
            + (f" and its coverage of the real test images {base['coverage']:.3f}" if covered else "")
            + f"; the unrolled GANs' and WGANs' ({'KL and coverage' if covered else 'KL'}): "
            f"{'; '.join(others) or 'none was run'}. One seed "
            "cannot tell these differences from what another seed would change: `make mode-collapse` measures "
            "their intervals.")


def _mixture_answer(dataset: str, rows: dict) -> str:
    """More or fewer modes than the vanilla GAN, said only where the intervals over seeds separate."""
    if BASELINE not in rows:
        return f"On the {dataset}, no vanilla GAN ran: nothing to compare with."
    base = rows[BASELINE]
    low, high = _interval(base)
    more, fewer, unclear = [], [], []
    for name, row in rows.items():
        if name == BASELINE or not name.startswith(("unrolled", "wgan")):
            continue
        a, b = _interval(row)
        (more if None not in (a, high) and a > high else fewer if None not in (b, low) and b < low else
         unclear).append(f"{name} {row['modes_recovered']:.1f}")
    text = (f"On the {dataset} ({counted(base['seeds'], 'seed')}), the vanilla GAN recovers "
            f"{base['modes_recovered']:.1f} of {base['modes']} modes")
    said = [f"more: {', '.join(more)}" if more else "", f"fewer: {', '.join(fewer)}" if fewer else "",
            f"the seeds cannot tell {', '.join(unclear)} from it" if unclear else ""]
    return text + "; " + "; ".join(p for p in said if p) + "." if any(said) else text + "."


def _interval(row: dict) -> tuple[float | None, float | None]:
    """The 95% interval of a mixture row's modes over seeds, (None, None) without one (one seed)."""
    span = row.get("modes_recovered_interval")
    return (span[0], span[1]) if isinstance(span, list) and len(span) == 2 and None not in span else (None, None)


def _grid_finding(toy: Path, rows: dict) -> str:
    """The exact unrolled GAN on the grid against the published 23.6 modes at 16% high-quality, with its budget."""
    name = next((n for n in rows if n.startswith("unrolled-exact") and not n.endswith("-std")), None)
    published = PUBLISHED["grid"].get("Unrolled GAN, k=5 (VEEGAN)")
    if name is None or published is None:
        return ""
    row = rows[name]
    configs = sorted((toy / "grid" / name).glob("seed*/config.json"))
    budget, other_k = "", ""
    if configs:
        c = check(check(read_json(configs[0], "run config"), RUN_CONFIG, configs[0])["config"],
                  {"unroll": int, "epochs": int, "batch_size": int}, configs[0])
        budget = (f" with k = {c['unroll']}, {c['epochs'] * MIXTURE_G_STEPS:,} generator steps of batch "
                  f"{c['batch_size']}")
        other_k = " (with k = 5)" if c["unroll"] != 5 else ""
    reached = row["modes_recovered"] >= published[0] and row["high_quality_fraction"] >= published[1]
    return (f"Finding: the exact unrolled GAN on the grid{budget} recovers {row['modes_recovered']:.1f} of "
            f"{row['modes']} modes "
            f"with {_pct(row['high_quality_fraction'])} of samples high-quality, over {counted(row['seeds'], 'seed')}; "
            f"the published {published[0]:g} modes at {_pct(published[1])}{other_k} "
            f"{'is reached' if reached else 'is not reached at this budget'}.")


def toy_mixtures(r: Report, gan: Path) -> None:
    """Mode collapse where a plain GAN does collapse: the 2-D ring and grid, ours beside the published rows, and
    the assignment's question answered from both benchmarks' numbers."""
    r.heading(3, "Mode collapse on 2-D mixtures: the ring and the grid")
    path = gan / "toy" / "summary.json"
    if not r.need(path, "gan-toy", "the 2-D mixture runs"):
        return
    summary = _load(path, TOY_SUMMARY)
    for dataset, rows in summary.items():
        check(rows, {}, path)
        table = [[name, str(row["seeds"]), f"{row['modes_recovered']:.1f}{within(row, 'modes_recovered')} of "
                  f"{row['modes']}", _pct(row["high_quality_fraction"]) + within(row, "high_quality_fraction", 100),
                  f"{row['reverse_kl']:.3f}{within(row, 'reverse_kl')}"]
                 for name, row in ((n, check(v, TOY_ROW, f"{path} ({dataset} {n})")) for n, v in rows.items())]
        table += [[f"published: {name}", "", f"{modes:g}", _pct(quality), ""]
                  for name, (modes, quality) in PUBLISHED.get(dataset, {}).items()]
        r.para(f"{dataset} (means over seeds, 2,500 samples each; a sample is high-quality within 3 standard "
               "deviations of a mode, a mode is recovered when it holds one):")
        r.table(["variant", "seeds", "modes recovered", "high-quality samples", "reverse KL"], table)
        r.para(answer(dataset, rows))
    histograms = gan / "histograms" / "histograms.json"
    if histograms.is_file():  # the same question on Fashion-MNIST, from the class histograms above
        histogram = _load(histograms, HISTOGRAMS)
        for key, grader in (("judge_rows", "the judge"), ("rows", "the classifier")):
            h = histogram.get(key, {})
            for name, row in h.items():
                check(row, HISTOGRAM_ROW, f"{histograms} ({key} {name})")
            if BASELINE in h:
                base = h[BASELINE]["kl_from_uniform"]
                kl = {n: h[n]["kl_from_uniform"] for n in h if n.startswith(("unrolled", "wgan"))}
                others = [f"{n} {v:.3f} ({'lower' if v < base else 'not lower'})" for n, v in kl.items()]
                r.para(f"On Fashion-MNIST, labelled by {grader}, the class-histogram KL from uniform is {base:.3f} "
                       f"for the vanilla GAN; against it: {'; '.join(others) or 'no unrolled or WGAN run'}.")
    r.figure(path.parent / "summary.png", "Modes recovered and high-quality samples per variant, ours and published")


BASELINE = gan_variant("vanilla", 0.0, None, "surrogate")  # the variant every other is compared with


def answer(dataset: str, rows: dict) -> str:
    """Whether the unrolled GANs and WGAN recover more modes than the vanilla GAN here, from the numbers."""
    if BASELINE not in rows:
        return f"No vanilla run on the {dataset}: nothing to compare the others with."
    base = rows[BASELINE]
    better = [n for n, row in rows.items() if n != BASELINE and row["modes_recovered"] > base["modes_recovered"]]
    worse = [n for n, row in rows.items() if n != BASELINE and row["modes_recovered"] < base["modes_recovered"]]
    text = (f"On the {dataset} the vanilla GAN recovers {base['modes_recovered']:.1f} of {base['modes']} modes "
            f"(reverse KL {base['reverse_kl']:.3f}). ")
    if better:
        best = max(better, key=lambda n: rows[n]["modes_recovered"])
        text += (f"More modes than that: {', '.join(better)}; the most, {best}, with "
                 f"{rows[best]['modes_recovered']:.1f} (reverse KL {rows[best]['reverse_kl']:.3f}). ")
    else:
        text += "No other variant recovers more modes here. "
    if worse:
        text += f"Fewer: {', '.join(worse)}."
    return text.strip()


def conditional_run(r: Report, gan: Path) -> None:
    """The conditional GAN: accuracy per requested class, and its samples."""
    r.heading(3, "Conditional GAN")
    run = gan / "cgan-vanilla"
    if r.need(run / "metrics.json", "cgan", "the conditional GAN"):
        m = _load(run / "metrics.json", "train-gan")
        r.para(m.get("summary", "") + _took(m))
        graded = {}
        for key, grader in GRADERS:  # the types are checked on reading; here, that the numbers fit together
            if "conditional_accuracy_per_class" in m.get(key, {}):
                graded[grader] = _check_conditional(m[key], f"{run / 'metrics.json'}: {key}")
        if graded:
            classes = next(iter(graded.values()))["conditional_accuracy_per_class"]
            r.table(["class", *(f"conditional accuracy ({grader})" for grader in graded)],
                    [[k, *(_pct(q["conditional_accuracy_per_class"].get(k, float("nan"))) for q in graded.values())]
                     for k in classes] + [["all", *(_pct(q["conditional_accuracy"]) for q in graded.values())]])
            for grader, q in graded.items():
                r.para(f"By {grader}: {_conditional_words(q)}.")
        r.figure(run / "loss.png", "Conditional GAN: D and G losses", run)
        r.figure(run / "samples_strip.png", "Conditional GAN: samples at the start, middle and end", run)
    r.figure(gan / "cgan-samples.png", "Conditional GAN: 3 samples of each class")


def _check_conditional(q: dict, where: str) -> dict:
    """A conditional accuracy's numbers agree: shares in [0, 1], and since the intervals are recorded, one interval
    per class that holds its share and a sample count behind them."""
    shares = q["conditional_accuracy_per_class"]
    if "conditional_accuracy" not in q or not all(0 <= v <= 1 for v in [q["conditional_accuracy"], *shares.values()]):
        raise Hw3Error(f"{where}: conditional accuracies should be shares between 0 and 1")
    intervals = q.get("conditional_accuracy_interval_per_class")
    if intervals is None:  # written before the intervals were recorded
        return q
    if set(intervals) != set(shares) or not all(len(v) == 2 and 0 <= v[0] <= shares[k] <= v[1] <= 1
                                                 for k, v in intervals.items()):
        raise Hw3Error(f"{where}: conditional_accuracy_interval_per_class should hold, for every class, a "
                       "[low, high] pair around its share within [0, 1]")
    if q.get("conditional_samples", 0) < len(shares):
        raise Hw3Error(f"{where}: conditional_samples should count at least one sample of each class")
    return q


def _conditional_words(q: dict) -> str:
    """How many samples show their class, the lowest class, and which classes are below 60% or may be; with
    the intervals (1,000 samples a class), a share on one side of 60% whose interval reaches the other is said."""
    shares = q["conditional_accuracy_per_class"]
    intervals = q.get("conditional_accuracy_interval_per_class", {})
    worst = min(shares, key=shares.get)
    text = (f"{_pct(q['conditional_accuracy'])} of the samples show the class they were asked for; the lowest is "
            f"{worst} at {_pct(shares[worst])}")
    if intervals:
        low, high = intervals[worst]
        text += (f" (95% interval {_pct(low)}-{_pct(high)}, from "
                 f"{q['conditional_samples'] // len(shares):,} samples of each class)")
    below = [k for k, v in shares.items() if v < 0.6]
    below_may_pass = [k for k in below if intervals and intervals[k][1] >= 0.6]
    passing_may_not = [k for k, v in shares.items() if v >= 0.6 and intervals and intervals[k][0] < 0.6]
    text += f"; below 60%: {', '.join(below)}" if below else "; every class is at least 60%"
    if below_may_pass:
        text += f", though {_intervals_of(below_may_pass)} 60% or more"
    if passing_may_not:
        text += f"{'; ' if below else ', though '}{_intervals_of(passing_may_not)} below 60%"
    return text


def _intervals_of(classes: list[str]) -> str:
    if len(classes) == 1:
        return f"the 95% interval of {classes[0]} reaches"
    return f"the 95% intervals of {', '.join(classes[:-1])} and {classes[-1]} reach"


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
         "th{background:#f3f3f3}img{max-width:100%}figure{margin:1.5em 0}figcaption{color:#555;font-size:90%}"
         ".missing{color:#a00}")


def _judged(m: dict, key: str) -> float:
    """A graded run's number by the judge (else by the classifier)."""
    return (m.get("judge_quality") or m["quality"])[key]


# The headline number of each target, read from its run folder: (target, run folder under artifacts/, result).
HEADLINES = (
    ("make imdb", "imdb/gru", lambda m: f"GRU {_pct(m['test_accuracy'])} test accuracy"),
    ("make imdb", "imdb/mlp-embedding", lambda m: f"MLP on embeddings {_pct(m['test_accuracy'])}"),
    ("make imdb", "imdb/mlp-ids", lambda m: f"MLP on raw indices {_pct(m['test_accuracy'])}"),
    ("make classifier", "gan/classifier", lambda m: f"{_pct(m['test_accuracy'])} test accuracy"),
    ("make judge", "gan/judge", lambda m: f"{_pct(m['test_accuracy'])} test accuracy"),
    ("make gan-vanilla", "gan/vanilla", lambda m: f"sample diversity {m['sample_diversity']:.3f} "
                                                 f"(real {m['real_diversity']:.3f})"),
    ("make gan-wgan", "gan/wgan-gp", lambda m: f"WGAN-GP Frechet distance {_judged(m, 'frechet_distance'):.2f}"),
    ("make cgan", "gan/cgan-vanilla", lambda m: f"conditional accuracy {_pct(_judged(m, 'conditional_accuracy'))}"),
)


def results(root: Path) -> str:
    """RESULTS.md: every target's headline number with the machine, the date, the commit and each run's time."""
    rows, machine = [], None
    for target, folder, result in HEADLINES:
        try:
            m = read_run(root / folder, ("train-gru", "train-mlp", "classify", "judge", "train-gan"))[1]
            said = result(m)
        except (Hw3Error, KeyError, TypeError, ValueError):
            rows.append(f"| `{target}` | missing or unreadable: {folder} | - |")
            continue
        if machine is None and isinstance(m.get("machine"), dict):  # each run's precision is in its row
            machine = describe({k: v for k, v in m["machine"].items() if k != "precision"})
        took = f"{m['total_seconds'] / 60:.1f} min" if isinstance(m.get("total_seconds"), (int, float)) else "-"
        took += f", {m['precision']}" if isinstance(m.get("precision"), str) else ""
        rows.append(f"| `{target}` | {said} | {took} |")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip() or "not a git checkout"
    except (OSError, subprocess.SubprocessError):
        commit = "not a git checkout"
    return (f"# Results\n\nMachine: {machine or 'not recorded'}. Date: {time.strftime('%Y-%m-%d')}. Commit: {commit}."
            "\n\n| target | result | time |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")


def run(config: ReportConfig) -> int:
    if config.out.suffix.lower() == ".html":
        raise Hw3Error(f"--out {config.out}: give the Markdown file (REPORT.md); the HTML page is written beside it")
    if not os.path.isdir(config.artifacts):
        raise Hw3Error(f"--artifacts {where(config.artifacts)} is not a folder of runs")
    report = Report(config.artifacts, config.out.parent)
    report.heading(1, "hw3cli report")
    report.para(f"Built by `hw3cli report` from the run folders under {config.artifacts}; every number below is "
                "read from a run's metrics.json.")
    problem0(report)
    problem1(report)
    problem2(report)
    if report.missing:
        report.heading(2, "Missing runs")
        report.table(["what", "make target"], [[what, f"make {target}"] for what, target in report.missing])
    page = "\n".join(report.html).replace("`", "")
    with all_or_nothing():  # both files or neither
        atomic_write_text(config.out, "\n".join(report.md))
        atomic_write_text(config.out.with_name("RESULTS.md"), results(config.artifacts))
        atomic_write_text(config.out.with_suffix(".html"),
                          f"<!doctype html><html><head><meta charset='utf-8'><title>hw3cli report</title>"
                          f"<style>{STYLE}</style></head><body>\n{page}\n</body></html>\n")
    missing = f"; {counted(len(report.missing), 'run')} missing (listed at the end)" if report.missing else ""
    display.stdout().print(f"report -> {config.out} and {config.out.with_suffix('.html')}{missing}")
    return 0


